import type { ApiRestrictions } from '../accounts/api-restrictions.js';

export interface SessionRecord {
  digest: string;
  /** Names the session in the API, so that its owner can end it without ever seeing its id. */
  publicId: string;
  accountUuid: string;
  csrfDigest: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string | null;
  userAgent: string | null;
  /** True from the login of a two-factor account until its second factor is verified. */
  secondFactorPending: boolean;
}

/** A session found valid, with the API restrictions of its account. */
export interface LiveSession extends SessionRecord {
  restrictions: ApiRestrictions;
}

/**
 * When a session counts as live: it has not expired at `now`, and with an idle timeout (milliseconds, 0 for
 * none) it was last seen less than that long before `now`.
 */
export interface Liveness {
  now: number;
  idleTimeoutMs: number;
}

export interface Page {
  /** Null for every row from `offset` on. */
  limit: number | null;
  offset: number;
}

/** Persistence of sessions, kept only as digests of their ids. */
export interface SessionStore {
  insert(session: SessionRecord): Promise<void>;
  /** Returns the session when it is live and its account is active, else null. */
  findValid(digest: string, liveness: Liveness): Promise<LiveSession | null>;
  /** Lifts the two-factor limit of a session and sets its expiry; returns false when it had none. */
  completeSecondFactor(digest: string, expiresAt: number): Promise<boolean>;
  /** Sets the session's last-seen time to `seenAt` unless the stored one is later than `staleSince`. */
  touch(digest: string, seenAt: number, staleSince: number): Promise<void>;
  /** Returns a page of the account's live sessions, newest first. */
  listOf(accountUuid: string, liveness: Liveness, page: Page): Promise<SessionRecord[]>;
  countOf(accountUuid: string, liveness: Liveness): Promise<number>;
  delete(digest: string): Promise<void>;
  /** Deletes the account's session with this public id; returns false when the account has none. */
  deleteByPublicId(accountUuid: string, publicId: string): Promise<boolean>;
  deleteAllOf(accountUuid: string): Promise<void>;
  /** Deletes every session of the account except the one with digest `keep`. */
  deleteAllExcept(accountUuid: string, keep: string): Promise<void>;
}
