import argon2 from 'argon2';

import type { HashSettings } from '../config.js';
import { HashLimiter, HashQueueFullError } from './hash-limiter.js';
import { normalizePassword } from './password-policy.js';

// The PHC string that the argon2 package writes, such as $argon2id$v=19$m=19456,p=1,t=2$salt$hash; the
// parameters may come in any order.
const ARGON2_HASH = /^\$(argon2(?:id|i|d))\$v=\d+\$([a-z]=\d+(?:,[a-z]=\d+)*)\$/;

/**
 * Hashes and verifies passwords with argon2id. The argon2 package runs each hash on libuv's thread pool, so
 * hashing never blocks the event loop. At most `concurrency` hashes run at once and `queueLimit` wait;
 * a hash beyond them throws HashQueueFullError at once.
 */
export class PasswordHasher {
  /** Verifications done since start; every login attempt must add exactly one, whatever its outcome. */
  verifications = 0;

  private dummyHash: Promise<string> | null = null;
  readonly limiter: HashLimiter;

  constructor(private readonly settings: HashSettings) {
    this.limiter = new HashLimiter({ concurrency: settings.concurrency, queueLimit: settings.queueLimit });
  }

  async hash(password: string): Promise<string> {
    return this.limiter.run(() =>
      argon2.hash(normalizePassword(password), {
        type: argon2.argon2id,
        memoryCost: this.settings.memoryKib,
        timeCost: this.settings.timeCost,
        parallelism: this.settings.parallelism,
      }),
    );
  }

  /**
   * Checks `password` against `storedHash`. With no stored hash (unknown address, account without a
   * password) it verifies against a dummy hash of the same parameters and returns false, so that the
   * response takes as long as for a real account.
   */
  async verify(storedHash: string | null, password: string): Promise<boolean> {
    const hash = storedHash ?? (await this.dummy());
    this.verifications += 1;

    try {
      const matches = await this.limiter.run(() => argon2.verify(hash, normalizePassword(password)));
      return matches && storedHash !== null;
    } catch (error) {
      if (error instanceof HashQueueFullError) throw error;
      // A stored value that is not a valid argon2 hash matches no password.
      return false;
    }
  }

  /**
   * Returns whether a stored hash was made with weaker parameters than the configured ones: another argon2
   * variant, or less memory (m), fewer passes (t) or fewer lanes (p). Returns false for a value that is no
   * argon2 hash, because it matches no password and so is never replaced at login.
   */
  needsRehash(storedHash: string): boolean {
    const match = ARGON2_HASH.exec(storedHash);
    if (!match) return false;

    const [, variant, list = ''] = match;
    const parameters = new Map(list.split(',').map((pair) => [pair[0], Number(pair.slice(2))]));
    return (
      variant !== 'argon2id' ||
      (parameters.get('m') ?? 0) < this.settings.memoryKib ||
      (parameters.get('t') ?? 0) < this.settings.timeCost ||
      (parameters.get('p') ?? 0) < this.settings.parallelism
    );
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= this.hash(`dummy-${Math.random()}-${Date.now()}`);
    return this.dummyHash;
  }
}
