import { clientOf } from '../accounts/account-routes.js';
import { ANY_CREDENTIALS, EMPTY_OBJECT_SCHEMA } from '../api-docs/operation-docs.js';
import { validationError } from '../http/api-error.js';
import type { Action, ActionTable } from '../http/actions.js';
import type { Authenticator } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { clearSessionCookies } from '../http/session-cookies.js';
import type { SessionService } from '../sessions/session-service.js';
import type { CheckOutcome } from '../throttle/credential-throttle.js';
import type { Throttling } from '../throttle/throttling.js';
import type { DeletionOutcome, DeletionService } from './deletion-service.js';

export interface DeletionRouteDeps {
  deletion: DeletionService;
  sessions: SessionService;
  authenticator: Authenticator;
  throttling: Throttling;
  publicUrl: string;
}

/** Returns the `delete_account` action of `/api/2.0/accounts/action/?do=...`. */
export function deletionActions(deps: DeletionRouteDeps): ActionTable {
  const { deletion, authenticator } = deps;

  const deleteAccount: Action<{ password: string }> = {
    body: {
      type: 'object',
      // The password has no length limit here, because an overlong one gets the same 400 as any wrong one.
      properties: { password: { type: 'string' } },
      required: ['password'],
      additionalProperties: false,
    },
    docs: {
      summary: 'Delete the account, given its password',
      description: 'Ends every session and deletes the tokens and mail of the account; the uuid is never reused.',
      access: ANY_CREDENTIALS,
      response: { description: 'The account is deleted and the session cookies expire.', schema: EMPTY_OBJECT_SCHEMA },
    },
    handle: async (request, reply, body) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, deps.sessions, deps.publicUrl);

      const deleteAccount = () => deletion.deleteAccount(caller.accountUuid, body.password, clientOf(request), Date.now());
      const outcome = await deps.throttling.credentials.guard(request, { accountUuid: caller.accountUuid }, deleteAccount, deletionCheckOutcome);
      if (outcome.kind === 'inactive') throw authenticator.challenge('authentication required: the account is no longer active');
      if (outcome.kind === 'invalid') throw validationError(outcome.field, outcome.reason);

      // Every session of the account is deleted already, so this only expires the cookies in the browser.
      clearSessionCookies(request, reply);
      return {};
    },
  };

  return { delete_account: deleteAccount };
}

function deletionCheckOutcome(outcome: DeletionOutcome): CheckOutcome {
  if (outcome.kind === 'deleted') return 'success';
  return outcome.kind === 'invalid' ? 'failure' : 'neutral';
}
