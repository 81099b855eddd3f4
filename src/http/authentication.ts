import type { FastifyRequest } from 'fastify';

import type { AccountService } from '../accounts/account-service.js';
import type { SessionRecord } from '../sessions/session-store.js';
import type { SessionService } from '../sessions/session-service.js';
import { notAuthenticatedError, type ApiError } from './api-error.js';
import { sessionIdOf } from './session-cookies.js';

/** Who made a request, and how they proved it. */
export type Caller =
  | { accountUuid: string; via: 'session'; session: SessionRecord }
  | { accountUuid: string; via: 'basic' };

export const REALM = 'sigma-accounts';

const callers = new WeakMap<FastifyRequest, Promise<Caller | null>>();

/**
 * The one authentication step of every protected route: the `Authorization` header first (HTTP Basic),
 * then the session cookie. Routes call it and never parse credentials themselves.
 */
export class Authenticator {
  constructor(
    private readonly accounts: AccountService,
    private readonly sessions: SessionService,
  ) {}

  /** Returns the caller, or null when the request carries no valid credentials. Computed once per request. */
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

  challenge(message?: string): ApiError {
    return notAuthenticatedError([`Basic realm="${REALM}", charset="UTF-8"`], message);
  }

  private async resolve(request: FastifyRequest): Promise<Caller | null> {
    const header = request.headers.authorization;
    if (header !== undefined) {
      // A request that sends credentials is judged by them alone, never by a cookie that came along.
      return this.fromAuthorization(header);
    }

    const sessionId = sessionIdOf(request);
    if (!sessionId) return null;

    const session = await this.sessions.resolve(sessionId, Date.now());
    return session ? { accountUuid: session.accountUuid, via: 'session', session } : null;
  }

  private async fromAuthorization(header: string): Promise<Caller | null> {
    const credentials = parseBasic(header);
    if (!credentials) return null;

    const account = await this.accounts.authenticate(credentials.username, credentials.password);
    return account ? { accountUuid: account.uuid, via: 'basic' } : null;
  }
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
