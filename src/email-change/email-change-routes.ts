import { clientOf } from '../accounts/account-routes.js';
import { ANY_CREDENTIALS, EMPTY_OBJECT_SCHEMA, NO_CREDENTIALS } from '../api-docs/operation-docs.js';
import { validationError } from '../http/api-error.js';
import type { Action, ActionTable } from '../http/actions.js';
import type { Authenticator } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import type { SessionService } from '../sessions/session-service.js';
import type { CheckOutcome } from '../throttle/credential-throttle.js';
import type { Throttling } from '../throttle/throttling.js';
import type { ChangeRequestOutcome, EmailChangeService } from './email-change-service.js';

export interface EmailChangeRouteDeps {
  emailChange: EmailChangeService;
  sessions: SessionService;
  authenticator: Authenticator;
  throttling: Throttling;
  publicUrl: string;
}

const FIELD_MAX_LENGTH = 1024;

/** Returns the `change_email` and `confirm_email` actions of `/api/2.0/accounts/action/?do=...`. */
export function emailChangeActions(deps: EmailChangeRouteDeps): ActionTable {
  const { emailChange, authenticator } = deps;

  const changeEmail: Action<{ email: string; password: string }> = {
    body: {
      type: 'object',
      properties: {
        email: { type: 'string', maxLength: FIELD_MAX_LENGTH },
        // The password has no length limit here, because an overlong one gets the same 400 as any wrong one.
        password: { type: 'string' },
      },
      required: ['email', 'password'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Request a change of the email address; a link goes to the new address',
      description: 'The response is the same whether or not the new address has an account. The address changes when the link is used.',
      access: ANY_CREDENTIALS,
      response: { description: 'The request is taken.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request, _reply, body) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, deps.sessions, deps.publicUrl);

      const requestChange = () => emailChange.requestChange(caller.accountUuid, body.email, body.password, clientOf(request), Date.now());
      const outcome = await deps.throttling.credentials.guard(request, { accountUuid: caller.accountUuid }, requestChange, changeRequestCheckOutcome);
      if (outcome.kind === 'inactive') throw authenticator.challenge('authentication required: the account is no longer active');
      if (outcome.kind === 'invalid') throw validationError(outcome.field, outcome.reason);
      return {};
    },
  };

  // Like `confirm`, this action takes its authority from the emailed token alone. It needs no login, and
  // because it uses no ambient credentials it needs no CSRF token either.
  const confirmEmail: Action<{ token: string }> = {
    body: {
      type: 'object',
      properties: { token: { type: 'string', maxLength: FIELD_MAX_LENGTH } },
      required: ['token'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Change the email address with the token from the email-change link',
      access: NO_CREDENTIALS,
      response: { description: 'The address is changed.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request, _reply, body) => {
      const outcome = await emailChange.confirm(body.token, clientOf(request), Date.now());
      if (!outcome.ok) throw validationError('token', outcome.reason);
      return {};
    },
  };

  return { change_email: changeEmail, confirm_email: confirmEmail };
}

/** Classifies a change_email outcome for throttling: an invalid new address is found before the password is checked. */
function changeRequestCheckOutcome(outcome: ChangeRequestOutcome): CheckOutcome {
  if (outcome.kind === 'requested') return 'success';
  return outcome.kind === 'invalid' && outcome.field === 'password' ? 'failure' : 'neutral';
}
