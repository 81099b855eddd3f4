import type { ChangeClock } from './database.js';

/**
 * Values read from a SQLite store, kept while the store has not changed. Any write of this process and any
 * commit of another process moves the change clock on, and the next lookup then empties the cache.
 * So a lookup here returns what the database would: a logout, a password change or a disabled account on
 * any process takes effect at the next request. Kept values are frozen and shared.
 */
export class StoreReadCache<Value extends object> {
  private readonly entries = new Map<string, Readonly<Value>>();
  private clockReading = -1;

  /** `maxEntries` bounds the memory. A full cache is emptied before the next entry. */
  constructor(
    private readonly clock: ChangeClock,
    private readonly maxEntries: number,
  ) {}

  /** Returns the value read for `key` since the last change of the store, or undefined. */
  get(key: string): Readonly<Value> | undefined {
    const reading = this.clock.read();
    if (reading !== this.clockReading) {
      this.entries.clear();
      this.clockReading = reading;
      return undefined;
    }
    return this.entries.get(key);
  }

  /**
   * Returns the clock reading that the last `get` took, for `set` after a lookup of the database. Called
   * right after a `get` that missed, it spares a second reading of the clock.
   */
  lastReading(): number {
    return this.clockReading;
  }

  /** Keeps `value`, read from the database after `readingBefore`, unless the store changed since then. */
  set(key: string, value: Value, readingBefore: number): Readonly<Value> {
    const frozen = Object.freeze(value);
    if (readingBefore !== this.clockReading || this.clock.read() !== readingBefore) return frozen;

    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, frozen);
    return frozen;
  }
}
