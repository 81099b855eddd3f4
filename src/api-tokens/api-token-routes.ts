import type { FastifyInstance } from 'fastify';

import { clientOf } from '../accounts/account-routes.js';
import {
  DATE_TIME_SCHEMA,
  EMPTY_OBJECT_SCHEMA,
  type OperationDocs,
  PASSWORD_CREDENTIALS,
  READ_CREDENTIALS,
  UUID_SCHEMA,
} from '../api-docs/operation-docs.js';
import { notFoundError, permissionError, validationError } from '../http/api-error.js';
import type { Authenticator, Caller } from '../http/authentication.js';
import { type BodySchema, bodyValidator } from '../http/body-schema.js';
import { rejectControlCharacters } from '../http/control-characters.js';
import { assertCsrf } from '../http/csrf.js';
import { listSchema } from '../http/pagination.js';
import { registerResource } from '../http/resource.js';
import { isoWithOffset } from '../iso-time.js';
import type { SessionService } from '../sessions/session-service.js';
import { MAX_TOKENS_PER_ACCOUNT, type ApiTokenService, TOKEN_SHAPE } from './api-token-service.js';
import type { ApiTokenRecord } from './api-token-store.js';

export interface ApiTokenRouteDeps {
  apiTokens: ApiTokenService;
  authenticator: Authenticator;
  sessions: SessionService;
  publicUrl: string;
}

const TOKENS_URL = '/api/2.0/accounts/tokens/';
const NAME_MAX_LENGTH = 100;
// Token uuids are random UUIDs, so any other id gets its 404 without a store query.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// An ISO 8601 date and time with a UTC offset or Z, as the API writes times.
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;
// Unicode format characters: zero-width spaces and joiners, and the marks that reverse the direction of text.
const INVISIBLE = /\p{Cf}/u;

interface CreateBody {
  name: string;
  expires?: string | null;
  read_only?: boolean;
}

const CREATE_BODY: BodySchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: NAME_MAX_LENGTH },
    expires: { type: ['string', 'null'], maxLength: 64 },
    read_only: { type: 'boolean' },
  },
  required: ['name'],
  additionalProperties: false,
};
const validateCreate = bodyValidator(CREATE_BODY);

/** JSON Schema of a token as `present` writes it. */
const TOKEN_SCHEMA = {
  type: 'object',
  properties: {
    uuid: UUID_SCHEMA,
    name: { type: 'string' },
    read_only: { type: 'boolean' },
    created: DATE_TIME_SCHEMA,
    last_used: { type: ['string', 'null'], format: 'date-time', description: 'Recorded at most once a minute.' },
    expires: { type: ['string', 'null'], format: 'date-time' },
    resource_uri: { type: 'string' },
  },
  required: ['uuid', 'name', 'read_only', 'created', 'last_used', 'expires', 'resource_uri'],
  additionalProperties: false,
} as const;

const LIST_DOCS: OperationDocs = {
  tag: 'api-tokens',
  summary: 'List the API tokens of the account',
  access: READ_CREDENTIALS,
  response: {
    description: `Every token of the account; \`meta.limit\` is the maximum number of tokens of an account, ${MAX_TOKENS_PER_ACCOUNT}.`,
    schema: listSchema(TOKEN_SCHEMA),
  },
};

const CREATE_DOCS: OperationDocs = {
  tag: 'api-tokens',
  summary: 'Create an API token; the response holds its secret, shown only then',
  description:
    '`expires` is ISO 8601 with an offset, in the future, or null for never. An account with ' +
    `${MAX_TOKENS_PER_ACCOUNT} tokens gets a 400. API tokens cannot create tokens.`,
  access: PASSWORD_CREDENTIALS,
  requestBody: CREATE_BODY,
  response: {
    status: 201,
    description: 'The new token, with its secret in `token`.',
    schema: {
      type: 'object',
      properties: {
        objects: {
          type: 'array',
          minItems: 1,
          maxItems: 1,
          items: {
            ...TOKEN_SCHEMA,
            properties: { ...TOKEN_SCHEMA.properties, token: { type: 'string', pattern: TOKEN_SHAPE.source } },
            required: [...TOKEN_SCHEMA.required, 'token'],
          },
        },
      },
      required: ['objects'],
      additionalProperties: false,
    },
  },
};

const REVOKE_DOCS: OperationDocs = {
  tag: 'api-tokens',
  summary: 'Revoke an API token at once, on every node',
  access: PASSWORD_CREDENTIALS,
  parameters: [{ name: 'uuid', in: 'path', required: true, description: 'The uuid of the token.', schema: UUID_SCHEMA }],
  response: { description: 'The token is revoked.', schema: EMPTY_OBJECT_SCHEMA },
  errors: [404],
};

/**
 * Registers the API tokens of the calling account: `GET /api/2.0/accounts/tokens/` lists them, `POST` creates
 * one and returns its secret once, and `DELETE /api/2.0/accounts/tokens/{uuid}/` revokes one.
 */
export function registerApiTokenRoutes(app: FastifyInstance, deps: ApiTokenRouteDeps): void {
  const { apiTokens, authenticator } = deps;

  // A token that could make tokens would outlive its own revocation, so tokens are managed with a session or a password.
  const manager = async (request: Parameters<typeof authenticator.require>[0]): Promise<Caller> => {
    const caller = await authenticator.require(request);
    assertCsrf(request, caller, deps.sessions, deps.publicUrl);
    if (caller.via === 'token') throw permissionError('API tokens cannot create or revoke API tokens; log in, or use HTTP Basic');
    return caller;
  };

  registerResource(app, TOKENS_URL, {
    GET: async (request) => {
      const caller = await authenticator.require(request);
      const tokens = await apiTokens.listOf(caller.accountUuid);
      return {
        meta: { limit: MAX_TOKENS_PER_ACCOUNT, offset: 0, total_count: tokens.length },
        objects: tokens.map(present),
      };
    },
    POST: async (request, reply) => {
      const caller = await manager(request);
      const body = validateCreate(request.body === undefined ? {} : request.body) as CreateBody;
      rejectControlCharacters(body);

      const now = Date.now();
      const name = body.name.trim();
      if (name === '') throw validationError('name', 'name must not be blank');
      if (INVISIBLE.test(name)) throw validationError('name', 'name must not contain invisible or direction-changing characters');
      const expiresAt = body.expires == null ? null : expiryOf(body.expires, now);

      const created = await apiTokens.create(caller.accountUuid, { name, expiresAt, readOnly: body.read_only === true }, now, clientOf(request));
      if (!created) throw validationError(null, `an account may have at most ${MAX_TOKENS_PER_ACCOUNT} API tokens; revoke one first`);

      reply.code(201);
      return { objects: [{ ...present(created.record), token: created.secret }] };
    },
  }, { GET: LIST_DOCS, POST: CREATE_DOCS });

  registerResource(app, `${TOKENS_URL}:uuid/`, {
    DELETE: async (request) => {
      const caller = await manager(request);
      const uuid = (request.params as { uuid: string }).uuid.toLowerCase();
      if (!UUID.test(uuid) || !(await apiTokens.revoke(caller.accountUuid, uuid, clientOf(request)))) {
        const shown = UUID.test(uuid) ? `API token ${uuid}` : 'the API token of this id';
        throw notFoundError(`${shown} does not exist among the tokens of this account`);
      }
      return {};
    },
  }, { DELETE: REVOKE_DOCS });
}

function expiryOf(text: string, now: number): number {
  const at = ISO_DATE_TIME.test(text) && realCalendarTime(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) throw validationError('expires', 'expires must be a date and time in ISO 8601 with an offset, such as 2027-01-31T12:00:00+00:00, or null');
  if (at <= now) throw validationError('expires', 'expires must be in the future');
  return at;
}

/** Returns whether the date and time in an ISO 8601 text exist, so that 2030-02-30 or 24:00 never roll over. */
function realCalendarTime(text: string): boolean {
  const [year, month, day, hour, minute] = (text.match(/\d+/g) ?? []).map(Number);
  const date = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 0));
  return date.getUTCMonth() === (month ?? 0) - 1 && date.getUTCDate() === day && (hour ?? 24) < 24 && (minute ?? 60) < 60;
}

/** Returns a token as its owner sees it: never the secret, which only the response to its creation holds. */
function present(token: ApiTokenRecord): Record<string, unknown> {
  return {
    uuid: token.uuid,
    name: token.name,
    read_only: token.readOnly,
    created: isoWithOffset(token.createdAt),
    last_used: token.lastUsedAt === null ? null : isoWithOffset(token.lastUsedAt),
    expires: token.expiresAt === null ? null : isoWithOffset(token.expiresAt),
    resource_uri: `${TOKENS_URL}${token.uuid}/`,
  };
}
