/** A counter's value and the time it expires, in milliseconds since the Unix epoch. */
export interface Counter {
  count: number;
  expiresAt: number;
}

/**
 * Counters and holds shared by every node, kept in the database or in Redis. A key names either a counter
 * or a hold, never both. Every method is atomic on its own, so that nodes racing on one key all see a
 * consistent count.
 */
export interface ThrottleStore {
  /**
   * Adds one to the counter at `key` and returns it. A missing or expired counter starts again at one and
   * expires at `expiresAt`. With `sliding`, every hit moves the expiry to `expiresAt`; without it, the
   * expiry set by the first hit stays (a fixed window).
   */
  hit(key: string, now: number, expiresAt: number, sliding: boolean): Promise<Counter>;

  /** Takes one back from a live counter above zero; does nothing to a missing or expired one. */
  unhit(key: string, now: number): Promise<void>;

  /** Returns the live counter at `key`, or null when it is missing or expired. */
  peek(key: string, now: number): Promise<Counter | null>;

  /**
   * Places a hold on `key` until `until` unless a live hold exists. Returns null when the hold was placed,
   * or the end of the hold that was already there.
   */
  hold(key: string, now: number, until: number): Promise<number | null>;

  /** Places a hold on `key` until `until`, or moves the end of a live hold that ends sooner to `until`. */
  extendHold(key: string, now: number, until: number): Promise<void>;

  /** Deletes counters and holds. */
  clear(keys: string[]): Promise<void>;

  /** Deletes expired counters and holds, and returns how many; a store whose entries expire by themselves returns 0. */
  sweep(now: number): Promise<number>;
}
