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
}

/** Persistence of sessions, kept only as digests of their ids. */
export interface SessionStore {
  insert(session: SessionRecord): Promise<void>;
  /** Returns the session when it has not expired and its account is active, else null. */
  findValid(digest: string, now: number): Promise<SessionRecord | null>;
  delete(digest: string): Promise<void>;
  deleteAllOf(accountUuid: string): Promise<void>;
}
