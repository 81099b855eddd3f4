import { createHmac, randomBytes } from 'node:crypto';

export interface CredentialCacheSettings {
  /** How long a verified credential is remembered, in milliseconds; 0 turns the cache off. */
  ttlMs: number;
  /** The maximum number of credentials remembered at once; the oldest go first. */
  maxEntries: number;
}

interface Entry {
  accountUuid: string;
  /** The stored hash the password matched: a password change replaces it, on whatever node. */
  passwordHash: string;
  expiresAt: number;
}

/**
 * Remembers, for a short time, that a username and password matched an account's stored hash, so that a
 * program sending the same Basic credentials with every request is not hashed again each time. Entries are
 * keyed by an HMAC of the credentials under a random key of this process, never by the password. An entry
 * counts only while the account's stored hash is still the one it matched, so a password change on any
 * node voids it.
 */
export class CredentialCache {
  private readonly key = randomBytes(32);
  // A Map iterates in insertion order, so its first key is the oldest entry.
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly settings: CredentialCacheSettings) {}

  get enabled(): boolean {
    return this.settings.ttlMs > 0 && this.settings.maxEntries > 0;
  }

  /** Returns the key of a username and password pair: an HMAC that reveals neither. */
  keyOf(username: string, password: string): string {
    return createHmac('sha256', this.key).update(username, 'utf8').update('\0').update(password, 'utf8').digest('base64url');
  }

  /**
   * Returns the account and stored hash that `key` was verified against, unless that has expired. The
   * caller must check that the account still has this hash and is active.
   */
  find(key: string, now: number): { accountUuid: string; passwordHash: string } | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  remember(key: string, accountUuid: string, passwordHash: string, now: number): void {
    if (!this.enabled) return;
    this.entries.delete(key);
    if (this.entries.size >= this.settings.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { accountUuid, passwordHash, expiresAt: now + this.settings.ttlMs });
  }

  /** Forgets every credential of an account, as when its sessions are ended or it is disabled. */
  forgetAccount(accountUuid: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.accountUuid === accountUuid) this.entries.delete(key);
    }
  }
}
