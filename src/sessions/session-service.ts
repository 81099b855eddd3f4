import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import { constantTimeEqual, digestOf, looksLikeSecret, newSecret } from '../crypto-tokens.js';
import type { LiveSession, Liveness, Page, SessionRecord, SessionStore } from './session-store.js';

/** The origin of a request (IP address and user agent), stored on its session for the owner to recognise. */
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

export interface SessionSettings {
  /** A session unused for longer than this ends; 0 for no idle timeout. */
  idleTimeoutSeconds: number;
}

// A session waiting for its second factor ends soon, so that a stolen password alone gives access to nothing for long.
const SECOND_FACTOR_WINDOW_MS = 5 * 60 * 1000;

// Long user agents are cut: they are shown to the owner, not used for any decision.
const MAX_USER_AGENT = 512;

// last_seen_at is written at most once a minute per session, so that a busy session does not cost a write
// per request. Under a shorter idle timeout it is written every half timeout, so that a session in use
// never looks idle.
const TOUCH_INTERVAL_MS = 60_000;

export class SessionService {
  private readonly idleTimeoutMs: number;
  private readonly touchIntervalMs: number;

  constructor(
    private readonly sessions: SessionStore,
    private readonly ttlSeconds: number,
    private readonly settings: SessionSettings,
  ) {
    this.idleTimeoutMs = settings.idleTimeoutSeconds * 1000;
    this.touchIntervalMs = this.idleTimeoutMs > 0 ? Math.min(TOUCH_INTERVAL_MS, this.idleTimeoutMs / 2) : TOUCH_INTERVAL_MS;
  }

  /**
   * Starts a session, in `store` when given: a store bound to an open transaction. With
   * `secondFactorPending` it is limited, and ends within minutes, until completeSecondFactor lifts that.
   */
  async start(
    accountUuid: string,
    client: ClientInfo,
    now: number,
    store: SessionStore = this.sessions,
    options: { secondFactorPending?: boolean } = {},
  ): Promise<IssuedSession> {
    const secondFactorPending = options.secondFactorPending === true;
    const ttlMs = this.ttlSeconds * 1000;
    const sessionId = newSecret();
    const csrfToken = newSecret();
    const record: SessionRecord = {
      digest: digestOf(sessionId),
      publicId: randomUUID(),
      accountUuid,
      csrfDigest: digestOf(csrfToken),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + (secondFactorPending ? Math.min(ttlMs, SECOND_FACTOR_WINDOW_MS) : ttlMs),
      ip: client.ip,
      userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
      secondFactorPending,
    };

    await store.insert(record);
    return { sessionId, csrfToken, record };
  }

  /**
   * Returns the live session for a session id from a cookie, or null for anything else. Records the use
   * when the stored last-seen time is at least one touch interval old. `log`, the request's logger, receives
   * the failure of that write, which never fails the request.
   */
  async resolve(sessionId: string, now: number, log: Pick<Logger, 'warn'>): Promise<LiveSession | null> {
    // Values that no session id can have are rejected without a store round trip.
    if (!looksLikeSecret(sessionId)) return null;

    const session = await this.sessions.findValid(digestOf(sessionId), this.livenessAt(now));
    if (!session || now - session.lastSeenAt < this.touchIntervalMs) return session;

    try {
      await this.sessions.touch(session.digest, now, now - this.touchIntervalMs);
      return { ...session, lastSeenAt: now };
    } catch (error) {
      // The session was found valid, so the request goes on; the idle timeout then counts from the last
      // write that succeeded.
      log.warn({ err: error, session: session.publicId, account: session.accountUuid }, 'session last-seen time could not be written');
      return session;
    }
  }

  /**
   * Lifts the two-factor limit of a session, which then lasts as long as a session started at its login
   * without one. Returns false when the session had no limit, as when a parallel request lifted it first.
   */
  completeSecondFactor(session: SessionRecord, store: SessionStore = this.sessions): Promise<boolean> {
    return store.completeSecondFactor(session.digest, session.createdAt + this.ttlSeconds * 1000);
  }

  /** Returns a page of the account's live sessions, newest first, and how many there are in all. */
  async listOf(accountUuid: string, page: Page, now: number): Promise<{ sessions: SessionRecord[]; totalCount: number }> {
    const liveness = this.livenessAt(now);
    const sessions = await this.sessions.listOf(accountUuid, liveness, page);
    const totalCount = await this.sessions.countOf(accountUuid, liveness);
    return { sessions, totalCount };
  }

  /** Ends a session, in `store` when given: a store bound to an open transaction. */
  async end(session: SessionRecord, store: SessionStore = this.sessions): Promise<void> {
    await store.delete(session.digest);
  }

  /** Ends the account's session with this public id; returns false when the account has no such session. */
  endByPublicId(accountUuid: string, publicId: string, store: SessionStore = this.sessions): Promise<boolean> {
    return store.deleteByPublicId(accountUuid, publicId);
  }

  /** Ends every session of the account except `keep`; with no `keep`, every session. */
  async endOthers(accountUuid: string, keep: SessionRecord | null, store: SessionStore = this.sessions): Promise<void> {
    if (keep) await store.deleteAllExcept(accountUuid, keep.digest);
    else await store.deleteAllOf(accountUuid);
  }

  /** Ends the session of a presented id, whether or not it is still valid. */
  async endById(sessionId: string): Promise<void> {
    if (looksLikeSecret(sessionId)) await this.sessions.delete(digestOf(sessionId));
  }

  /** Returns whether `csrfToken` is the token issued with `session`, compared in constant time. */
  csrfMatches(session: SessionRecord, csrfToken: string): boolean {
    return constantTimeEqual(digestOf(csrfToken), session.csrfDigest);
  }

  private livenessAt(now: number): Liveness {
    return { now, idleTimeoutMs: this.idleTimeoutMs };
  }
}
