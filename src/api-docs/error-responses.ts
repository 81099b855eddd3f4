import { ERROR_LIST_SCHEMA } from '../http/api-error.js';
import type { ErrorStatus } from './operation-docs.js';

/** Name of the error list in the document's `components.schemas`. */
export const ERROR_LIST = 'ErrorList';

const ERROR_LIST_CONTENT = { 'application/json': { schema: { $ref: `#/components/schemas/${ERROR_LIST}` } } };

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } } };

const ERRORS: Record<ErrorStatus, { name: string; description: string; headers?: object }> = {
  400: {
    name: 'BadRequest',
    description: 'The request is invalid: a body, parameter or header is wrong, and `error_point` names it.',
  },
  401: {
    name: 'Unauthorized',
    description: 'Credentials are missing or wrong, or a two-factor login is not verified yet.',
    headers: { 'WWW-Authenticate': { description: 'A challenge for every enabled scheme.', schema: { type: 'string' } } },
  },
  403: {
    name: 'Forbidden',
    description:
      'The caller is authenticated but not allowed: the CSRF check failed, a read-only API token sent an unsafe method, ' +
      'an API token tried what needs a password, or the account accepts no calls from this network or over plain HTTP.',
  },
  404: { name: 'NotFound', description: 'The resource does not exist.' },
  405: {
    name: 'MethodNotAllowed',
    description: 'The resource does not accept this method.',
    headers: { Allow: { description: 'The methods the resource accepts.', schema: { type: 'string' } } },
  },
  406: { name: 'NotAcceptable', description: 'The Accept header matches neither JSON nor XML.' },
  413: { name: 'PayloadTooLarge', description: 'The request body is larger than BODY_LIMIT_BYTES.' },
  429: {
    name: 'TooManyRequests',
    description: 'Too many failed password checks or emails requested. The error message gives the seconds to wait.',
    headers: RETRY_AFTER,
  },
  500: { name: 'InternalError', description: 'An internal error; the message quotes the request id to report.' },
  503: {
    name: 'ServiceUnavailable',
    description: 'The database is unavailable, or too many password checks wait for their turn. Retry later.',
    headers: RETRY_AFTER,
  },
};

/** Returns `components.responses`: one response per error status, each a CloudSigma error list. */
export function errorResponses(): Record<string, object> {
  return Object.fromEntries(
    Object.values(ERRORS).map(({ name, description, headers }) => [name, { description, ...(headers ? { headers } : {}), content: ERROR_LIST_CONTENT }]),
  );
}

/** Returns a reference to the shared response of an error status. */
export function errorResponseRef(status: ErrorStatus): { $ref: string } {
  return { $ref: `#/components/responses/${ERRORS[status].name}` };
}
