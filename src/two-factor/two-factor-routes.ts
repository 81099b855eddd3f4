import { clientOf } from '../accounts/account-routes.js';
import { EMPTY_OBJECT_SCHEMA, PASSWORD_CREDENTIALS } from '../api-docs/operation-docs.js';
import { type ApiError, permissionError, validationError } from '../http/api-error.js';
import type { Action, ActionTable } from '../http/actions.js';
import type { BodySchema } from '../http/body-schema.js';
import { type Authenticator, type Caller, codeCheckOutcome, otpOf, sessionCaller } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { setSessionCookies } from '../http/session-cookies.js';
import type { SessionService } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import type { CheckOutcome } from '../throttle/credential-throttle.js';
import type { Throttling } from '../throttle/throttling.js';
import { type ChangeRefusal, type TwoFactorService, WRONG_CODE } from './two-factor-service.js';

export interface TwoFactorRouteDeps {
  twoFactor: TwoFactorService;
  sessions: SessionService;
  authenticator: Authenticator;
  throttling: Throttling;
  store: Store;
  publicUrl: string;
  sessionTtlSeconds: number;
}

const noFields = { type: 'object', properties: {}, additionalProperties: false } as const;
const passwordOnly: BodySchema = { type: 'object', properties: { password: { type: 'string' } }, required: ['password'], additionalProperties: false };
const MISSING_CODE = 'send the current code of your authenticator app in the OTP header';

/**
 * Returns the two-factor actions of `/api/2.0/accounts/action/?do=...`: otp_setup, otp_enable and
 * otp_disable turn TOTP on and off; verify_otp completes the login of a two-factor account.
 */
export function twoFactorActions(deps: TwoFactorRouteDeps): ActionTable {
  const { twoFactor, sessions, authenticator } = deps;

  // Changing the second factor needs a caller who proved the first one; an API token has not.
  const changer = async (request: Parameters<Action<never>['handle']>[0]): Promise<Caller> => {
    const caller = await authenticator.require(request);
    assertCsrf(request, caller, sessions, deps.publicUrl);
    if (caller.via === 'token') throw permissionError('API tokens cannot change two-factor authentication; log in, or use HTTP Basic');
    return caller;
  };

  const otpSetup: Action<Record<string, never>> = {
    body: noFields,
    docs: {
      summary: 'Make a new TOTP secret for the account, to confirm with otp_enable',
      access: PASSWORD_CREDENTIALS,
      response: {
        description: 'The secret in base32, its otpauth:// URI, and the URI as a QR code in SVG.',
        schema: {
          type: 'object',
          properties: { secret: { type: 'string' }, uri: { type: 'string' }, qr_svg: { type: 'string' } },
          required: ['secret', 'uri', 'qr_svg'],
          additionalProperties: false,
        },
      },
    },
    handle: async (request) => {
      const caller = await changer(request);
      const outcome = await twoFactor.setup(caller.accountUuid, clientOf(request));
      if (!outcome.ok) throw refusal(outcome);
      return { secret: outcome.setup.secret, uri: outcome.setup.uri, qr_svg: outcome.setup.qrSvg };
    },
  };

  const otpEnable: Action<{ password: string }> = {
    body: passwordOnly,
    docs: {
      summary: 'Turn two-factor authentication on with the password and a code of the new secret',
      description: 'Ends every other session of the account. The recovery codes are shown only in this response.',
      access: PASSWORD_CREDENTIALS,
      otpHeader: true,
      response: {
        description: 'Two-factor authentication is on.',
        schema: {
          type: 'object',
          properties: { recovery_codes: { type: 'array', items: { type: 'string' } } },
          required: ['recovery_codes'],
          additionalProperties: false,
        },
      },
      errors: [429],
    },
    handle: async (request, _reply, body) => {
      const caller = await changer(request);
      const code = otpOf(request);
      if (code === null) throw validationError('OTP', MISSING_CODE);

      const keep = caller.via === 'session' ? caller.session : null;
      const enable = () => twoFactor.enable(caller.accountUuid, body.password, code, keep, Date.now(), clientOf(request));
      const outcome = await deps.throttling.credentials.guard(request, { secondFactorOf: caller.accountUuid }, enable, changeCheckOutcome);
      if (!outcome.ok) throw refusal(outcome);
      return { recovery_codes: outcome.recoveryCodes };
    },
  };

  const otpDisable: Action<{ password: string }> = {
    body: passwordOnly,
    docs: {
      summary: 'Turn two-factor authentication off with the password and a code or recovery code',
      description: 'Ends every other session of the account.',
      access: PASSWORD_CREDENTIALS,
      otpHeader: true,
      response: { description: 'Two-factor authentication is off.', schema: EMPTY_OBJECT_SCHEMA },
      errors: [429],
    },
    handle: async (request, _reply, body) => {
      const caller = await changer(request);
      // Basic and Digest on a two-factor account took the request's code already, so it is not asked twice.
      const codeTaken = caller.via === 'basic' || caller.via === 'digest';
      const code = codeTaken ? null : otpOf(request);
      if (!codeTaken && code === null) throw validationError('OTP', MISSING_CODE);

      const keep = caller.via === 'session' ? caller.session : null;
      const disable = () => twoFactor.disable(caller.accountUuid, body.password, code, keep, Date.now(), clientOf(request));
      const outcome = await deps.throttling.credentials.guard(request, { secondFactorOf: caller.accountUuid }, disable, changeCheckOutcome);
      if (!outcome.ok) throw refusal(outcome);
      return {};
    },
  };

  const verifyOtp: Action<Record<string, never>> = {
    body: noFields,
    docs: {
      summary: 'Complete a two-factor login with the code in the OTP header',
      description:
        'Replaces the limited session of the login with a full one, under new session cookies. A wrong or used code is a 401; ' +
        'a client whose code was used already waits for the next 30-second step.',
      access: { credentials: ['session'], csrf: true },
      otpHeader: true,
      response: { description: 'The session is verified.', schema: EMPTY_OBJECT_SCHEMA },
      errors: [429],
    },
    handle: async (request, reply) => {
      const session = await authenticator.sessionOf(request);
      if (!session) throw authenticator.challenge('log in first: verify_otp completes the login of a session');
      assertCsrf(request, sessionCaller(session), sessions, deps.publicUrl);
      // A session without a pending second factor has nothing to verify, as after a verify_otp that succeeded.
      if (!session.secondFactorPending) return {};

      const code = otpOf(request);
      if (code === null) throw authenticator.challenge(MISSING_CODE);
      const accountUuid = session.accountUuid;
      const client = clientOf(request);
      const event = { type: 'verify_otp', actor: accountUuid, accountUuid, client } as const;

      const check = () => twoFactor.checkCode(accountUuid, code, Date.now());
      if ((await deps.throttling.credentials.guard(request, { secondFactorOf: accountUuid }, check, codeCheckOutcome)) !== 'accepted') {
        await deps.store.audit.record({ ...event, details: `session ${session.publicId}`, failure: 'wrong_code' });
        throw authenticator.challenge(WRONG_CODE);
      }

      // The verified session gets a new id and CSRF token, so that a pending session planted in someone's
      // browser before they typed their code is never promoted.
      const started = await deps.store.transaction(async (stores) => {
        await sessions.end(session, stores.sessions);
        const full = await sessions.start(accountUuid, client, Date.now(), stores.sessions);
        await stores.audit.record({ ...event, details: `session ${full.record.publicId}` });
        return full;
      });
      setSessionCookies(request, reply, started, deps.sessionTtlSeconds);
      return {};
    },
  };

  return { otp_setup: otpSetup, otp_enable: otpEnable, otp_disable: otpDisable, verify_otp: verifyOtp };
}

/** Classifies a two-factor change for throttling: a wrong password or code is a failure, a wrong state neutral. */
function changeCheckOutcome(outcome: { ok: true } | ChangeRefusal): CheckOutcome {
  if (outcome.ok) return 'success';
  return outcome.field === null ? 'neutral' : 'failure';
}

function refusal(outcome: ChangeRefusal): ApiError {
  return validationError(outcome.field, outcome.reason);
}
