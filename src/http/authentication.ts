import type { FastifyRequest } from 'fastify';

import type { AccountService } from '../accounts/account-service.js';
import type { DigestAuth, DigestOutcome } from '../digest/digest-auth.js';
import { parseDigestParams } from '../digest/digest-header.js';
import type { SessionRecord } from '../sessions/session-store.js';
import type { SessionService } from '../sessions/session-service.js';
import { type CheckOutcome, type CredentialThrottle, successUnlessNull } from '../throttle/credential-throttle.js';
import { notAuthenticatedError, type ApiError, validationError } from './api-error.js';
import { sessionIdOf } from './session-cookies.js';

/** The account that made a request, and the credentials it proved itself with. */
export type Caller =
  | { accountUuid: string; via: 'session'; session: SessionRecord }
  | { accountUuid: string; via: 'basic' | 'digest' };

export const REALM = 'sigma-accounts';

const SCHEMES = /^\s*(Basic|Digest)(\s|$)/i;

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

  /** Returns the caller, or throws 401 with a challenge for every enabled scheme. */
  async require(request: FastifyRequest): Promise<Caller> {
    const caller = await this.identify(request);
    if (!caller) throw this.challenge();
    return caller;
  }

  challenge(message?: string, stale = false): ApiError {
    const challenges = [`Basic realm="${REALM}", charset="UTF-8"`, ...(this.digest?.challenges(stale) ?? [])];
    return notAuthenticatedError(challenges, message);
  }

  /** Returns the live session of the request's session cookie, whatever else the request carries. */
  async sessionOf(request: FastifyRequest): Promise<SessionRecord | null> {
    const sessionId = sessionIdOf(request);
    return sessionId ? this.sessions.resolve(sessionId, Date.now()) : null;
  }

  private async resolve(request: FastifyRequest): Promise<Caller | null> {
    const header = request.headers.authorization;
    if (header !== undefined && SCHEMES.test(header)) {
      // A request that sends credentials of a known scheme is judged by them alone, never by a cookie that
      // came along. Other schemes are ignored, so the cookie still counts.
      return this.fromAuthorization(header, request);
    }

    const session = await this.sessionOf(request);
    return session ? { accountUuid: session.accountUuid, via: 'session', session } : null;
  }

  private async fromAuthorization(header: string, request: FastifyRequest): Promise<Caller | null> {
    if (this.digest && /^Digest\s/i.test(header)) {
      const digest = this.digest;
      const username = parseDigestParams(header)?.get('username') ?? '';
      const verify = () => digest.verify({ header, method: request.method, target: request.url });
      const outcome = await this.throttle.guard(request, { username }, verify, digestCheckOutcome);
      switch (outcome.kind) {
        case 'authenticated':
          return { accountUuid: outcome.account.uuid, via: 'digest' };
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

    const { username, password } = credentials;
    const account = await this.throttle.guard(request, { username }, () => this.accounts.authenticate(username, password), successUnlessNull);
    return account ? { accountUuid: account.uuid, via: 'basic' } : null;
  }
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
