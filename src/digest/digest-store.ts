/** Persistence that HTTP Digest needs: nonce counts against replay, and the key that signs nonces. */
export interface DigestStore {
  /**
   * Records nonce count `count` for `nonce`. Returns false, changing nothing, when an equal or higher count
   * was already accepted: the request is a replay.
   */
  advanceNonceCount(nonce: string, count: number, expiresAt: number): Promise<boolean>;
  /** Deletes the counts of nonces that expired before `now`. */
  deleteExpiredNonces(now: number): Promise<void>;
  /** Returns the secret called `name`, creating it with `create()` the first time any node asks. */
  secret(name: string, create: () => string, now: number): Promise<string>;
}

/** The stored digest hashes of an account. */
export interface DigestCredentials {
  accountUuid: string;
  md5: string | null;
  sha256: string | null;
}
