import type { TokenPurpose } from '../storage/schema.js';

export type { TokenPurpose };

export interface TokenRecord {
  digest: string;
  accountUuid: string;
  purpose: TokenPurpose;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  /** For `email` tokens: the address to switch to. */
  newEmail?: string | null;
}

/** Persistence of single-use emailed tokens, kept only as digests. */
export interface TokenStore {
  insert(token: Omit<TokenRecord, 'usedAt'>): Promise<void>;
  find(digest: string, purpose: TokenPurpose): Promise<TokenRecord | null>;
  /**
   * Marks an unused, unexpired token as used. Returns true for exactly one caller even when several race
   * for the same token.
   */
  consume(digest: string, now: number): Promise<boolean>;
  /** Marks every outstanding token of an account as used. */
  invalidateAll(accountUuid: string, now: number): Promise<void>;
  /** Deletes every token of an account, used or not. */
  deleteAllOf(accountUuid: string): Promise<void>;
}
