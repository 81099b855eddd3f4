import type { FastifyRequest } from 'fastify';

import type { AccountService } from '../accounts/account-service.js';
import type { Account } from '../accounts/account-store.js';
import { type ApiRestrictions, restrictionProblem } from '../accounts/api-restrictions.js';
import type { ApiTokenService } from '../api-tokens/api-token-service.js';
import type { LiveApiToken } from '../api-tokens/api-token-store.js';
import type { DigestAuth, DigestOutcome } from '../digest/digest-auth.js';
import { parseDigestParams } from '../digest/digest-header.js';
import type { LiveSession } from '../sessions/session-store.js';
import type { SessionService } from '../sessions/session-service.js';
import { type CheckOutcome, type CredentialThrottle, successUnlessNull } from '../throttle/credential-throttle.js';
import { type CodeCheck, type TwoFactorService, WRONG_CODE } from '../two-factor/two-factor-service.js';
import { notAuthenticatedError, type ApiError, permissionError, validationError } from './api-error.js';
import { sessionIdOf } from './session-cookies.js';

/** The account that made a request, the credentials it proved itself with, and the account's restrictions. */
export type Caller = { accountUuid: string; restrictions: ApiRestrictions } & (
  | { via: 'session'; session: LiveSession }
  | { via: 'basic' | 'digest' }
  | { via: 'token'; token: LiveApiToken }
);

/** The callers a route accepts beyond fully authenticated ones. */
export interface RequireOptions {
  /** Accept a session whose second factor is not verified yet, as verify_otp must. */
  secondFactorPending?: boolean;
  /** The route changes nothing whatever its method, so read-only API tokens may call it. */
  changesNothing?: boolean;
}

export const REALM = 'sigma-accounts';

/** The request header that carries a second-factor code: a TOTP code or a recovery code. */
export const OTP_HEADER = 'otp';

const SCHEMES = /^\s*(Basic|Digest|Bearer)(\s|$)/i;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const SECOND_FACTOR_PENDING =
  'two-factor verification is pending: post do=verify_otp with the current code of your authenticator app in the OTP header';
const OTP_NEEDED =
  'this account has two-factor authentication on: send the current code of your authenticator app in the OTP header, ' +
  'or authenticate programs with an API token (Authorization: Bearer)';

const callers = new WeakMap<FastifyRequest, Promise<Caller | null>>();

/**
 * The one authentication step of every protected route: the `Authorization` header first (HTTP Basic, or
 * Digest when enabled), then the session cookie. Routes call it and never parse credentials themselves.
 */
export class Authenticator {
  constructor(
    private readonly accounts: AccountService,
    private readonly sessions: SessionService,
    /** Null while Digest is disabled. */
    private readonly digest: DigestAuth | null,
    private readonly throttle: CredentialThrottle,
    private readonly twoFactor: TwoFactorService,
    private readonly apiTokens: ApiTokenService,
  ) {}

  /**
   * Returns the caller, or null when the request carries no valid credentials. Computed once per request.
   * Throws 401 for a Digest header with an expired nonce and 400 for one naming another request target.
   */
  identify(request: FastifyRequest): Promise<Caller | null> {
    let caller = callers.get(request);
    if (!caller) {
      caller = this.resolve(request);
      callers.set(request, caller);
    }
    return caller;
  }

  /**
   * Returns the caller, or throws 401 with a challenge for every enabled scheme when there is none or its
   * session still waits for its second factor. Throws 403 when the account's restrictions reject the
   * request, or when a read-only API token sent an unsafe method.
   */
  async require(request: FastifyRequest, options: RequireOptions = {}): Promise<Caller> {
    const caller = await this.identify(request);
    if (!caller) throw this.challenge();
    if (caller.via === 'session' && caller.session.secondFactorPending && !options.secondFactorPending) {
      throw this.challenge(SECOND_FACTOR_PENDING);
    }

    assertAllowed(request, caller.restrictions);
    if (caller.via === 'token' && caller.token.readOnly && !SAFE_METHODS.has(request.method) && !options.changesNothing) {
      throw permissionError(`this API token is read-only: it may send ${[...SAFE_METHODS].join(', ')} requests only`);
    }
    return caller;
  }

  /**
   * Asks an account with two-factor authentication on for its second factor, after its password was
   * verified: a code in the OTP header, used up here. Throws 401 when there is none or it is wrong; a wrong
   * code counts as a failed password check for throttling.
   */
  async requireSecondFactor(request: FastifyRequest, account: Account): Promise<void> {
    if (!account.twoFactorEnabled) return;

    const code = otpOf(request);
    if (code === null) throw this.challenge(OTP_NEEDED);
    const check = () => this.twoFactor.checkCode(account.uuid, code, Date.now());
    if ((await this.throttle.guard(request, { secondFactorOf: account.uuid }, check, codeCheckOutcome)) !== 'accepted') {
      throw this.challenge(WRONG_CODE);
    }
  }

  challenge(message?: string, stale = false): ApiError {
    const challenges = [`Basic realm="${REALM}", charset="UTF-8"`, ...(this.digest?.challenges(stale) ?? []), `Bearer realm="${REALM}"`];
    return notAuthenticatedError(challenges, message);
  }

  /** Forgets the Basic credentials of an account that were verified recently, so the next use hashes again. */
  forgetCredentials(accountUuid: string): void {
    this.accounts.forgetCredentials(accountUuid);
  }

  /**
   * Returns the live session of the request's session cookie, whatever else the request carries, even one
   * that waits for its second factor.
   */
  async sessionOf(request: FastifyRequest): Promise<LiveSession | null> {
    const sessionId = sessionIdOf(request);
    return sessionId ? this.sessions.resolve(sessionId, Date.now(), request.log) : null;
  }

  private async resolve(request: FastifyRequest): Promise<Caller | null> {
    const header = request.headers.authorization;
    if (header !== undefined && SCHEMES.test(header)) {
      // A request that sends credentials of a known scheme is judged by them alone, never by a cookie that
      // came along. Other schemes are ignored, so the cookie still counts.
      return this.fromAuthorization(header, request);
    }

    const session = await this.sessionOf(request);
    return session ? sessionCaller(session) : null;
  }

  private async fromAuthorization(header: string, request: FastifyRequest): Promise<Caller | null> {
    const bearer = /^\s*Bearer +(\S+) *$/i.exec(header);
    if (bearer?.[1]) {
      const token = await this.apiTokens.authenticate(bearer[1], Date.now(), request.log);
      return token ? { accountUuid: token.accountUuid, via: 'token', token, restrictions: token.restrictions } : null;
    }

    if (this.digest && /^Digest\s/i.test(header)) {
      const digest = this.digest;
      const username = parseDigestParams(header)?.get('username') ?? '';
      const verify = () => digest.verify({ header, method: request.method, target: request.url });
      const outcome = await this.throttle.guard(request, { username }, verify, digestCheckOutcome);
      switch (outcome.kind) {
        case 'authenticated':
          await this.requireSecondFactor(request, outcome.account);
          return { accountUuid: outcome.account.uuid, via: 'digest', restrictions: outcome.account.restrictions };
        case 'stale':
          throw this.challenge('the Digest nonce has expired; repeat the request with the new nonce', true);
        case 'wrong-uri':
          throw validationError(null, 'the Digest uri parameter must be the request target, path and query string');
        default:
          return null;
      }
    }

    const credentials = parseBasic(header);
    if (!credentials) return null;

    // A credential verified moments ago skips the hash and the throttle: it is no guess.
    const { username, password } = credentials;
    const account =
      (await this.accounts.authenticateFromCache(username, password)) ??
      (await this.throttle.guard(request, { username }, () => this.accounts.authenticate(username, password), successUnlessNull));
    if (!account) return null;
    await this.requireSecondFactor(request, account);
    return { accountUuid: account.uuid, via: 'basic', restrictions: account.restrictions };
  }
}

/** Returns the caller that a session makes of its request. */
export function sessionCaller(session: LiveSession): Caller {
  return { accountUuid: session.accountUuid, via: 'session', session, restrictions: session.restrictions };
}

/** Throws 403 when the account's API restrictions refuse a request over its scheme or from its address. */
export function assertAllowed(request: FastifyRequest, restrictions: ApiRestrictions): void {
  const problem = restrictionProblem(restrictions, { protocol: request.protocol, ip: request.ip });
  if (problem) throw permissionError(problem);
}

/** Returns the second-factor code of the OTP header, or null when none was sent. */
export function otpOf(request: FastifyRequest): string | null {
  const value = request.headers[OTP_HEADER];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/** Classifies a second-factor code for throttling: every refused code counts as a failed check. */
export function codeCheckOutcome(check: CodeCheck): CheckOutcome {
  return check === 'accepted' ? 'success' : 'failure';
}

/**
 * Classifies a Digest outcome for throttling. A stale nonce comes only with a correct response. A wrong uri,
 * a malformed header and a replay are found without testing the password, so they are neutral.
 */
function digestCheckOutcome(outcome: DigestOutcome): CheckOutcome {
  if (outcome.kind === 'authenticated' || outcome.kind === 'stale') return 'success';
  return outcome.kind === 'wrong-credentials' ? 'failure' : 'neutral';
}

/** Parses `Basic base64(user:password)` (RFC 7617, UTF-8): the password is everything after the first colon. */
export function parseBasic(header: string): { username: string; password: string } | null {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match?.[1] || match[1].length % 4 !== 0) return null;

  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(match[1], 'base64'));
  } catch {
    return null;
  }

  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
