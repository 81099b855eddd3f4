import { randomUUID } from 'node:crypto';

import { constantTimeEqual, digestOf, looksLikeSecret, newSecret } from '../crypto-tokens.js';
import type { SessionRecord, SessionStore } from './session-store.js';

/** Where a request came from, stored on its session for the owner to recognise. */
export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

/** A session just started: the secrets go to the client once and are stored only as digests. */
export interface IssuedSession {
  sessionId: string;
  csrfToken: string;
  record: SessionRecord;
}

// Long user agents are cut: they are shown to the owner, not used for any decision.
const MAX_USER_AGENT = 512;

export class SessionService {
  constructor(
    private readonly sessions: SessionStore,
    private readonly ttlSeconds: number,
  ) {}

  /** Starts a session, in `store` when given: a store bound to an open transaction. */
  async start(accountUuid: string, client: ClientInfo, now: number, store: SessionStore = this.sessions): Promise<IssuedSession> {
    const sessionId = newSecret();
    const csrfToken = newSecret();
    const record: SessionRecord = {
      digest: digestOf(sessionId),
      publicId: randomUUID(),
      accountUuid,
      csrfDigest: digestOf(csrfToken),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.ttlSeconds * 1000,
      ip: client.ip,
      userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
    };

    await store.insert(record);
    return { sessionId, csrfToken, record };
  }

  /** Returns the live session for a session id from a cookie, or null for anything else. */
  async resolve(sessionId: string, now: number): Promise<SessionRecord | null> {
    // Values that no session id can have are answered without a store round trip.
    if (!looksLikeSecret(sessionId)) return null;
    return this.sessions.findValid(digestOf(sessionId), now);
  }

  async end(session: SessionRecord): Promise<void> {
    await this.sessions.delete(session.digest);
  }

  /** Ends the session of a presented id, whether or not it is still valid. */
  async endById(sessionId: string): Promise<void> {
    if (looksLikeSecret(sessionId)) await this.sessions.delete(digestOf(sessionId));
  }

  /** Whether `csrfToken` is the token issued with `session`, compared in constant time. */
  csrfMatches(session: SessionRecord, csrfToken: string): boolean {
    return constantTimeEqual(digestOf(csrfToken), session.csrfDigest);
  }
}
