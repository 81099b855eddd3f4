import type { ParameterDocs } from '../api-docs/operation-docs.js';
import { validationError } from './api-error.js';

/** The `limit` and `offset` of a list request; a limit of 0 requests every object, as in CloudSigma's API. */
export interface Pagination {
  limit: number;
  offset: number;
}

// Larger offsets cannot point into any list this server returns, and they stay within a PostgreSQL bigint.
const MAX_OFFSET = 2_147_483_647;

/**
 * Reads `limit` and `offset` from a parsed query string. Throws a 400 on the parameter when it is given
 * more than once or is not a whole number in range.
 */
export function paginationOf(query: unknown, limits: { defaultLimit: number; maxLimit: number }): Pagination {
  const parameters = (query ?? {}) as Record<string, unknown>;

  const limit = wholeNumber(parameters, 'limit', limits.defaultLimit, limits.maxLimit, `limit must be a whole number from 1 to ${limits.maxLimit}, or 0 for all`);
  const offset = wholeNumber(parameters, 'offset', 0, MAX_OFFSET, `offset must be a whole number from 0 to ${MAX_OFFSET}`);
  return { limit, offset };
}

function wholeNumber(parameters: Record<string, unknown>, name: string, fallback: number, max: number, message: string): number {
  const value = parameters[name];
  if (value === undefined) return fallback;
  if (Array.isArray(value)) throw validationError(name, `${name} must be given once`);

  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value) || Number(value) > max) throw validationError(name, message);
  return Number(value);
}

/** Returns the OpenAPI parameters that paginationOf reads, with the same limits. */
export function paginationParameters(limits: { defaultLimit: number; maxLimit: number }): ParameterDocs[] {
  return [
    {
      name: 'limit',
      in: 'query',
      description: `Objects per page, from 1 to ${limits.maxLimit}, or 0 for all of them. Default ${limits.defaultLimit}.`,
      schema: { type: 'integer', minimum: 0, maximum: limits.maxLimit, default: limits.defaultLimit },
    },
    {
      name: 'offset',
      in: 'query',
      description: 'Objects to skip from the start of the list.',
      schema: { type: 'integer', minimum: 0, maximum: MAX_OFFSET, default: 0 },
    },
  ];
}

/** Returns the JSON Schema of a list in CloudSigma's layout, `meta` and `objects`, with the schema of one object. */
export function listSchema(objectSchema: object): object {
  return {
    type: 'object',
    properties: {
      meta: {
        type: 'object',
        properties: {
          limit: { type: 'integer', description: 'The maximum number of objects on a page; 0 when the request asked for every object.' },
          offset: { type: 'integer' },
          total_count: { type: 'integer', description: 'Objects in the whole list.' },
        },
        required: ['limit', 'offset', 'total_count'],
      },
      objects: { type: 'array', items: objectSchema },
    },
    required: ['meta', 'objects'],
  };
}
