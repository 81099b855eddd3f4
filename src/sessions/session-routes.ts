import type { FastifyInstance } from 'fastify';

import { clientOf } from '../accounts/account-routes.js';
import {
  ANY_CREDENTIALS,
  DATE_TIME_SCHEMA,
  EMPTY_OBJECT_SCHEMA,
  type OperationDocs,
  READ_CREDENTIALS,
  UUID_SCHEMA,
} from '../api-docs/operation-docs.js';
import { type Action, type ActionsSummary, registerActions } from '../http/actions.js';
import { notFoundError } from '../http/api-error.js';
import type { Authenticator } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { listSchema, paginationOf, paginationParameters } from '../http/pagination.js';
import { registerResource } from '../http/resource.js';
import { clearSessionCookies } from '../http/session-cookies.js';
import { isoWithOffset } from '../iso-time.js';
import type { Store } from '../storage/store.js';
import type { SessionService } from './session-service.js';
import type { SessionRecord } from './session-store.js';

export interface SessionRouteDeps {
  sessions: SessionService;
  authenticator: Authenticator;
  /** For the transactions that write a change together with its audit record. */
  store: Store;
  publicUrl: string;
}

const SESSIONS_URL = '/api/2.0/accounts/sessions/';
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

// Public ids are random UUIDs, so any other id gets its 404 without a store query.
const PUBLIC_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** JSON Schema of a session in the list, as `present` writes it. */
const SESSION_SCHEMA = {
  type: 'object',
  properties: {
    id: { ...UUID_SCHEMA, description: 'The public id of the session, not the session id of its cookie.' },
    created: DATE_TIME_SCHEMA,
    last_seen: {
      ...DATE_TIME_SCHEMA,
      description: 'Updated at most once a minute, or every half idle timeout when SESSION_IDLE_TIMEOUT_SECONDS is under two minutes.',
    },
    ip: { type: ['string', 'null'] },
    user_agent: { type: ['string', 'null'] },
    current: { type: 'boolean', description: 'Whether this is the session of the request.' },
  },
  required: ['id', 'created', 'last_seen', 'ip', 'user_agent', 'current'],
  additionalProperties: false,
} as const;

const LIST_DOCS: OperationDocs = {
  tag: 'sessions',
  summary: 'List the live sessions of the account, newest first',
  access: READ_CREDENTIALS,
  parameters: paginationParameters({ defaultLimit: DEFAULT_LIMIT, maxLimit: MAX_LIMIT }),
  response: { description: 'A page of sessions.', schema: listSchema(SESSION_SCHEMA) },
};

const END_ONE_DOCS: OperationDocs = {
  tag: 'sessions',
  summary: 'End one session of the account',
  description: 'Ending the session of the request itself is a logout: its cookies expire.',
  access: ANY_CREDENTIALS,
  parameters: [{ name: 'id', in: 'path', required: true, description: 'The public id of the session, from the list.', schema: UUID_SCHEMA }],
  response: { description: 'The session is ended.', schema: EMPTY_OBJECT_SCHEMA },
  errors: [404],
};

const ACTIONS_SUMMARY: ActionsSummary = {
  tag: 'sessions',
  summary: 'Session actions: POST /api/2.0/accounts/sessions/action/?do=NAME',
  description: 'Actions on all the sessions of the account.',
};

/**
 * Registers the sessions of the calling account: `GET /api/2.0/accounts/sessions/` lists them,
 * `DELETE /api/2.0/accounts/sessions/{id}/` ends one, and `POST .../sessions/action/?do=end_others` ends
 * every one but the session of the request.
 */
export function registerSessionRoutes(app: FastifyInstance, deps: SessionRouteDeps): void {
  const { sessions, authenticator } = deps;

  registerResource(app, SESSIONS_URL, {
    GET: async (request) => {
      const caller = await authenticator.require(request);
      const pagination = paginationOf(request.query, { defaultLimit: DEFAULT_LIMIT, maxLimit: MAX_LIMIT });

      const page = { limit: pagination.limit === 0 ? null : pagination.limit, offset: pagination.offset };
      const { sessions: listed, totalCount } = await sessions.listOf(caller.accountUuid, page, Date.now());

      const currentDigest = caller.via === 'session' ? caller.session.digest : null;
      return {
        meta: { limit: pagination.limit, offset: pagination.offset, total_count: totalCount },
        objects: listed.map((session) => present(session, currentDigest)),
      };
    },
  }, { GET: LIST_DOCS });

  registerResource(app, `${SESSIONS_URL}:id/`, {
    DELETE: async (request, reply) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, sessions, deps.publicUrl);

      const id = (request.params as { id: string }).id.toLowerCase();
      const event = { type: 'end_session', actor: caller.accountUuid, accountUuid: caller.accountUuid, client: clientOf(request) } as const;
      const ended = await deps.store.transaction(async (stores) => {
        const found = PUBLIC_ID.test(id) && (await sessions.endByPublicId(caller.accountUuid, id, stores.sessions));
        if (found) await stores.audit.record({ ...event, details: `session ${id}` });
        else await stores.audit.record({ ...event, failure: 'unknown_session' });
        return found;
      });
      if (!ended) throw notFoundError(`session ${id.slice(0, 64)} does not exist among the sessions of this account`);

      // Ending the session of the request itself is a logout, so its cookies expire too.
      if (caller.via === 'session' && caller.session.publicId === id) clearSessionCookies(request, reply);
      return {};
    },
  }, { DELETE: END_ONE_DOCS });

  const endOthers: Action<Record<string, never>> = {
    body: { type: 'object', properties: {}, additionalProperties: false },
    docs: {
      summary: 'End every session of the account but the one of the request',
      description: 'A caller that authenticated with an Authorization header has no session to keep, so every session ends.',
      access: ANY_CREDENTIALS,
      response: { description: 'The other sessions are ended.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, sessions, deps.publicUrl);

      // A caller authenticated by an Authorization header has no session of its own to keep.
      const keep = caller.via === 'session' ? caller.session : null;
      authenticator.forgetCredentials(caller.accountUuid);
      await deps.store.transaction(async (stores) => {
        await sessions.endOthers(caller.accountUuid, keep, stores.sessions);
        const details = keep ? `kept session ${keep.publicId}` : 'kept no session';
        await stores.audit.record({ type: 'end_other_sessions', actor: caller.accountUuid, accountUuid: caller.accountUuid, client: clientOf(request), details });
      });
      return {};
    },
  };
  registerActions(app, SESSIONS_URL, { end_others: endOthers }, ACTIONS_SUMMARY);
}

/** Returns a session as its owner sees it, without the session id or its digest. */
function present(session: SessionRecord, currentDigest: string | null): Record<string, unknown> {
  return {
    id: session.publicId,
    created: isoWithOffset(session.createdAt),
    last_seen: isoWithOffset(session.lastSeenAt),
    ip: session.ip,
    user_agent: session.userAgent,
    current: session.digest === currentDigest,
  };
}
