import { ACCOUNT_UUID_SCHEMA, clientOf } from '../accounts/account-routes.js';
import { ANY_CREDENTIALS, EMPTY_OBJECT_SCHEMA, NO_CREDENTIALS } from '../api-docs/operation-docs.js';
import { parseEmailForLookup } from '../accounts/email-address.js';
import { validationError } from '../http/api-error.js';
import type { Action, ActionTable } from '../http/actions.js';
import type { Authenticator } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { sessionIdOf, setSessionCookies } from '../http/session-cookies.js';
import type { SessionService } from '../sessions/session-service.js';
import type { CheckOutcome } from '../throttle/credential-throttle.js';
import type { Throttling } from '../throttle/throttling.js';
import type { ChangeOutcome, PasswordChangeService } from './password-change-service.js';
import type { PasswordResetService } from './reset-service.js';

export interface RecoveryActionDeps {
  passwordResets: PasswordResetService;
  passwordChanges: PasswordChangeService;
  sessions: SessionService;
  authenticator: Authenticator;
  throttling: Throttling;
  sessionTtlSeconds: number;
  publicUrl: string;
}

const FIELD_MAX_LENGTH = 1024;
// Passwords have no length limit in the schema, because the policy rejects an overlong new password with its
// own message, and an overlong old password is wrong like any other.
const password = { type: 'string' };

/** Returns the password reset and password change actions of `/api/2.0/accounts/action/?do=...`. */
export function recoveryActions(deps: RecoveryActionDeps): ActionTable {
  const { passwordResets, passwordChanges, sessions, authenticator } = deps;

  const requestPasswordReset: Action<{ email: string }> = {
    body: {
      type: 'object',
      properties: { email: { type: 'string', maxLength: FIELD_MAX_LENGTH } },
      required: ['email'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Email a link to choose a new password, if the address has an active account',
      description: 'The response is the same for every well-formed address, whether or not it has an account.',
      access: NO_CREDENTIALS,
      response: { description: 'The request is taken.', schema: EMPTY_OBJECT_SCHEMA },
      errors: [429],
    },
    handle: async (request, _reply, body) => {
      // A malformed address is rejected, because that reveals nothing about which addresses have accounts.
      // A look-alike spelling finds the account it imitates, and the link goes to that account's own address.
      const parsed = parseEmailForLookup(body.email);
      if (!parsed.ok) throw validationError('email', parsed.reason);
      await deps.throttling.mailRequests.take(request, 'request_password_reset', parsed.email.key);

      await passwordResets.request(parsed.email, clientOf(request), Date.now(), request.log);
      return {};
    },
  };

  const resetPassword: Action<{ token: string; password: string }> = {
    body: {
      type: 'object',
      properties: { token: { type: 'string', maxLength: FIELD_MAX_LENGTH }, password },
      required: ['token', 'password'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Set a new password with the token from the reset email, and log in',
      description: 'Ends every session of the account and sets new session cookies. A two-factor account gets a limited session until `verify_otp`.',
      access: NO_CREDENTIALS,
      response: { description: 'The password is changed and the caller logged in.', schema: ACCOUNT_UUID_SCHEMA },
      errors: [503],
    },
    handle: async (request, reply, body) => {
      const outcome = await passwordResets.reset(body.token, body.password, clientOf(request), Date.now(), request.log);
      if (!outcome.ok) throw validationError(outcome.field, outcome.reason);

      // Like login, a reset replaces whatever session the browser had, even one of another account.
      const presented = sessionIdOf(request);
      if (presented) await sessions.endById(presented);

      setSessionCookies(request, reply, outcome.session, deps.sessionTtlSeconds);
      return { uuid: outcome.accountUuid };
    },
  };

  const changePassword: Action<{ old_password: string; new_password: string }> = {
    body: {
      type: 'object',
      properties: { old_password: password, new_password: password },
      required: ['old_password', 'new_password'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Change the password, given the old one',
      description: 'Ends every session of the account; a caller with a session gets new session cookies.',
      access: ANY_CREDENTIALS,
      response: { description: 'The password is changed.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request, reply, body) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, sessions, deps.publicUrl);

      // Only a caller with a session gets a new one. Basic and Digest callers send credentials every time.
      const client = caller.via === 'session' ? clientOf(request) : null;
      const change = () => passwordChanges.change(caller.accountUuid, body.old_password, body.new_password, client, Date.now(), clientOf(request), request.log);
      const outcome = await deps.throttling.credentials.guard(request, { accountUuid: caller.accountUuid }, change, changeCheckOutcome);
      if (!outcome.ok) {
        if (outcome.field === null) throw authenticator.challenge(`authentication failed: ${outcome.reason}`);
        throw validationError(outcome.field, outcome.reason);
      }

      if (outcome.session) setSessionCookies(request, reply, outcome.session, deps.sessionTtlSeconds);
      return {};
    },
  };

  return {
    request_password_reset: requestPasswordReset,
    reset_password: resetPassword,
    change_password: changePassword,
  };
}

/** Classifies a change_password outcome for throttling: a policy error on new_password comes after old_password matched. */
function changeCheckOutcome(outcome: ChangeOutcome): CheckOutcome {
  if (outcome.ok || outcome.field === 'new_password') return 'success';
  return outcome.field === 'old_password' ? 'failure' : 'neutral';
}
