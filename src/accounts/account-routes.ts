import type { FastifyRequest } from 'fastify';

import {
  type Access,
  ANY_CREDENTIALS,
  EMPTY_OBJECT_SCHEMA,
  NO_CREDENTIALS,
  READ_CREDENTIALS,
  UUID_SCHEMA,
} from '../api-docs/operation-docs.js';
import type { ConfirmationService } from '../confirmation/confirmation-service.js';
import { validationError } from '../http/api-error.js';
import type { Action, ActionsSummary, ActionTable } from '../http/actions.js';
import { assertAllowed, type Authenticator, sessionCaller } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { clearSessionCookies, sessionIdOf, setSessionCookies } from '../http/session-cookies.js';
import { markSecondFactorPending } from '../metrics/login-outcomes.js';
import type { PromoService } from '../promo/promo-service.js';
import type { AsyncAuthSigner } from '../sessions/async-auth.js';
import { ASYNC_AUTH_COOKIE, ASYNC_AUTH_TTL_SECONDS } from '../sessions/async-auth.js';
import type { ClientInfo, SessionService } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import { successUnlessNull } from '../throttle/credential-throttle.js';
import type { Throttling } from '../throttle/throttling.js';
import type { AccountService } from './account-service.js';
import { parseEmailAddress } from './email-address.js';

export interface AccountRouteDeps {
  accounts: AccountService;
  confirmation: ConfirmationService;
  sessions: SessionService;
  authenticator: Authenticator;
  promos: PromoService;
  throttling: Throttling;
  /** For the transactions that write a change together with its audit record. */
  store: Store;
  sessionTtlSeconds: number;
  publicUrl: string;
  /** Returns the signer of `async_auth` values, made once its key is known. */
  asyncAuth: () => Promise<AsyncAuthSigner>;
}

const PROMO_MAX_LENGTH = 64;
const FIELD_MAX_LENGTH = 1024;

const credentials = {
  username: { type: 'string', maxLength: FIELD_MAX_LENGTH },
  // No length limit here: confirm rejects an overlong password with the policy's message, and login with
  // the same 401 as any other wrong password.
  password: { type: 'string' },
};
const noFields = { type: 'object', properties: {}, additionalProperties: false } as const;

/** The body of a success that names the account: `{"uuid": ...}`. */
export const ACCOUNT_UUID_SCHEMA = { type: 'object', properties: { uuid: UUID_SCHEMA }, required: ['uuid'], additionalProperties: false } as const;

/** The OpenAPI entry of `/api/2.0/accounts/action/` as a whole. */
export const ACCOUNT_ACTIONS_SUMMARY: ActionsSummary = {
  tag: 'accounts',
  summary: 'Account actions: POST /api/2.0/accounts/action/?do=NAME',
  description:
    'Sign-up, login, logout, password reset and change, address change, two-factor authentication and deletion. ' +
    'Actions that set cookies set `sessionid` and `csrftoken` (`__Host-` prefixed with COOKIE_HOST_PREFIX=on).',
};

// check_login_with_return_uuid takes credentials in the body too, and an async_auth cookie from a companion service.
const UUID_LOOKUP: Access = { credentials: [...READ_CREDENTIALS.credentials, 'asyncAuth'], csrf: false, optional: true };

/** Returns the sign-up, login and session-check actions of `/api/2.0/accounts/action/?do=...`. */
export function accountActions(deps: AccountRouteDeps): ActionTable {
  const { accounts, confirmation, sessions, authenticator } = deps;

  const create: Action<{ email: string; promo?: string | null }> = {
    body: {
      type: 'object',
      properties: {
        email: { type: 'string', maxLength: FIELD_MAX_LENGTH },
        promo: { type: ['string', 'null'], maxLength: PROMO_MAX_LENGTH },
      },
      required: ['email'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Sign up: queue an email with a link to set the password',
      description:
        'The response is the same whether or not the address has an account: a registered address gets a random uuid, and its ' +
        'owner gets an email instead. An unknown, expired or used-up promo code is a 400 on `promo`.',
      access: NO_CREDENTIALS,
      response: {
        description: 'The uuid of the new account, or a random uuid when the address has an account already.',
        schema: {
          type: 'object',
          properties: { success: { type: 'boolean', const: true }, uuid: UUID_SCHEMA },
          required: ['success', 'uuid'],
          additionalProperties: false,
        },
      },
      errors: [429],
    },
    handle: async (request, _reply, body) => {
      const parsed = parseEmailAddress(body.email);
      if (!parsed.ok) throw validationError('email', parsed.reason);
      await deps.throttling.mailRequests.take(request, 'create', parsed.email.key);

      const promo = await deps.promos.check(body.promo ?? null, Date.now());
      if (!promo.ok) throw validationError('promo', promo.reason);

      const uuid = await accounts.create(parsed.email, promo.code, clientOf(request), Date.now());
      return { success: true, uuid };
    },
  };

  const confirm: Action<{ token: string; password: string }> = {
    body: {
      type: 'object',
      properties: { token: { type: 'string', maxLength: FIELD_MAX_LENGTH }, password: credentials.password },
      required: ['token', 'password'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Set the first password with the token from the sign-up email, and log in',
      description: 'Sets the session cookies. An unknown, used or expired token is a 400 on `token`, a password the policy rejects a 400 on `password`.',
      access: NO_CREDENTIALS,
      response: { description: 'The account is active and the caller logged in.', schema: ACCOUNT_UUID_SCHEMA },
      errors: [503],
    },
    handle: async (request, reply, body) => {
      const outcome = await confirmation.confirm(body.token, body.password, clientOf(request), Date.now(), request.log);
      if (!outcome.ok) throw validationError(outcome.field, outcome.reason);

      // Like login, confirm replaces whatever session the browser had, so it never keeps two.
      const presented = sessionIdOf(request);
      if (presented) await sessions.endById(presented);

      setSessionCookies(request, reply, outcome.session, deps.sessionTtlSeconds);
      return { uuid: outcome.accountUuid };
    },
  };

  const login: Action<{ username: string; password: string }> = {
    body: { type: 'object', properties: credentials, required: ['username', 'password'], additionalProperties: false },
    docs: {
      summary: 'Log in with the email address and password; sets the session cookies',
      description:
        'Every cause of a failure gets the same 401. With two-factor authentication on, the session is limited until `verify_otp` ' +
        'takes a code.',
      access: NO_CREDENTIALS,
      response: { description: 'The caller is logged in.', schema: ACCOUNT_UUID_SCHEMA },
      errors: [401, 403, 429, 503],
    },
    handle: async (request, reply, body) => {
      const client = clientOf(request);
      const authenticate = () => accounts.authenticate(body.username, body.password);
      const account = await deps.throttling.credentials.guard(request, { username: body.username }, authenticate, successUnlessNull);
      if (!account) {
        const failure = await accounts.loginFailure(body.username);
        await deps.store.audit.record({ type: 'login', actor: null, accountUuid: failure.accountUuid, client, failure: failure.reason });
        throw authenticator.challenge('login failed: the username or password is wrong, or the account is not active');
      }

      assertAllowed(request, account.restrictions);

      // A session id that came with the login is ended, so that one planted before login is never promoted.
      const presented = sessionIdOf(request);
      if (presented) await sessions.endById(presented);

      // With two-factor authentication on, the session is limited until verify_otp takes a code.
      const secondFactorPending = account.twoFactorEnabled;
      const session = await deps.store.transaction(async (stores) => {
        const started = await sessions.start(account.uuid, client, Date.now(), stores.sessions, { secondFactorPending });
        const details = `session ${started.record.publicId}`;
        await stores.audit.record({ type: 'login', actor: account.uuid, accountUuid: account.uuid, client, details });
        return started;
      });
      setSessionCookies(request, reply, session, deps.sessionTtlSeconds);
      if (secondFactorPending) markSecondFactorPending(request);
      return { uuid: account.uuid };
    },
  };

  const logout: Action<Record<string, never>> = {
    body: noFields,
    docs: {
      summary: 'Log out: end the session of the cookie and expire both cookies',
      description: 'Succeeds without a session too.',
      access: { credentials: ['session'], csrf: true, optional: true },
      response: { description: 'The session is ended.', schema: EMPTY_OBJECT_SCHEMA },
      errors: [403],
    },
    handle: async (request, reply) => {
      // The session of the cookie ends even when an Authorization header came along, but only with the
      // session's CSRF token, because the cookie is ambient authority.
      const session = await authenticator.sessionOf(request);
      if (session) {
        assertCsrf(request, sessionCaller(session), sessions, deps.publicUrl);
        await deps.store.transaction(async (stores) => {
          await sessions.end(session, stores.sessions);
          const details = `session ${session.publicId}`;
          await stores.audit.record({ type: 'logout', actor: session.accountUuid, accountUuid: session.accountUuid, client: clientOf(request), details });
        });
      }

      clearSessionCookies(request, reply);
      return {};
    },
  };

  const checkLogin: Action<Record<string, never>> = {
    body: noFields,
    docs: {
      summary: 'Check that the request is authenticated',
      description: 'A session that waits for its second factor is not logged in.',
      access: READ_CREDENTIALS,
      response: { description: 'The request is authenticated.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request) => {
      await authenticator.require(request, { changesNothing: true });
      return {};
    },
  };

  const checkLoginWithReturnUuid: Action<{ username?: string; password?: string }> = {
    body: { type: 'object', properties: credentials, additionalProperties: false },
    docs: {
      summary: 'Return the uuid of the authenticated account, of the credentials in the body, or of an async_auth cookie',
      description:
        'With `username` and `password` in the body, they are checked. With an empty body, the request is judged by its ' +
        '`Authorization` header or session, or else by its `async_auth` cookie.',
      access: UUID_LOOKUP,
      response: { description: 'The account of the credentials.', schema: ACCOUNT_UUID_SCHEMA },
      errors: [401, 403, 429, 503],
    },
    handle: async (request, _reply, body) => {
      if (body.username === undefined && body.password === undefined) {
        // A companion service learns which account an async_auth cookie belongs to. It counts only for a request without
        // other credentials: an Authorization header or a session is judged alone, even when it is wrong.
        const asyncAuth = request.cookies[ASYNC_AUTH_COOKIE];
        if (asyncAuth && request.headers.authorization === undefined && !(await authenticator.identify(request))) {
          const uuid = (await deps.asyncAuth()).verify(asyncAuth, Date.now());
          const account = uuid ? await deps.store.accounts.findByUuid(uuid) : null;
          if (account?.state === 'active') return { uuid: account.uuid };
          throw authenticator.challenge('the async_auth cookie is expired, tampered with, or of an account that is no longer active');
        }
        const caller = await authenticator.require(request, { changesNothing: true });
        return { uuid: caller.accountUuid };
      }
      if (body.username === undefined || body.password === undefined) {
        const missing = body.username === undefined ? 'username' : 'password';
        throw validationError(missing, `${missing} is required when the other credential is given`);
      }

      const { username, password } = body;
      const account = await deps.throttling.credentials.guard(request, { username }, () => accounts.authenticate(username, password), successUnlessNull);
      if (!account) throw authenticator.challenge('the username or password is wrong, or the account is not active');
      await authenticator.requireSecondFactor(request, account);
      assertAllowed(request, account.restrictions);
      return { uuid: account.uuid };
    },
  };

  const authenticateAsynchronous: Action<Record<string, never>> = {
    body: noFields,
    docs: {
      summary: `Set an async_auth cookie, valid for ${ASYNC_AUTH_TTL_SECONDS} seconds, for a companion service`,
      access: ANY_CREDENTIALS,
      response: { description: 'The cookie is set.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request, reply) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, sessions, deps.publicUrl);

      const value = (await deps.asyncAuth()).sign(caller.accountUuid, Date.now());
      const secure = request.server.sessionCookieNames.alwaysSecure || request.protocol === 'https';
      reply.setCookie(ASYNC_AUTH_COOKIE, value, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: ASYNC_AUTH_TTL_SECONDS, secure });
      return {};
    },
  };

  return {
    create,
    authenticate_asynchronous: authenticateAsynchronous,
    confirm,
    login,
    logout,
    check_login: checkLogin,
    check_login_with_return_uuid: checkLoginWithReturnUuid,
  };
}

export function clientOf(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof userAgent === 'string' ? userAgent : null };
}
