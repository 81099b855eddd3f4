import argon2 from 'argon2';

import type { HashSettings } from '../config.js';
import { normalizePassword } from './password-policy.js';

/**
 * Hashes and verifies passwords with argon2id. The argon2 package runs each hash on libuv's thread pool, so
 * hashing never blocks the event loop.
 */
export class PasswordHasher {
  /** Verifications done since start; every login attempt must add exactly one, whatever its outcome. */
  verifications = 0;

  private dummyHash: Promise<string> | null = null;

  constructor(private readonly settings: HashSettings) {}

  async hash(password: string): Promise<string> {
    return argon2.hash(normalizePassword(password), {
      type: argon2.argon2id,
      memoryCost: this.settings.memoryKib,
      timeCost: this.settings.timeCost,
      parallelism: this.settings.parallelism,
    });
  }

  /**
   * Checks `password` against `storedHash`. With no stored hash (unknown address, account without a
   * password) it verifies against a dummy hash of the same parameters and returns false, so that the
   * answer takes as long as for a real account.
   */
  async verify(storedHash: string | null, password: string): Promise<boolean> {
    const hash = storedHash ?? (await this.dummy());
    this.verifications += 1;

    try {
      const matches = await argon2.verify(hash, normalizePassword(password));
      return matches && storedHash !== null;
    } catch {
      // A stored value that is not a valid argon2 hash matches no password.
      return false;
    }
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= this.hash(`dummy-${Math.random()}-${Date.now()}`);
    return this.dummyHash;
  }
}
