import type { AccountState } from '../storage/schema.js';
import type { ApiRestrictions } from './api-restrictions.js';

export type { AccountState };

export interface Account {
  uuid: string;
  email: string;
  emailKey: string;
  state: AccountState;
  passwordHash: string | null;
  promo: string | null;
  createdAt: number;
  confirmedAt: number | null;
  /** When a password was last set; tokens issued before it are void. */
  passwordChangedAt: number | null;
  /** Digest hashes (H(email:realm:password)) by algorithm; null until written while Digest is enabled. */
  digestHa1: { md5: string | null; sha256: string | null };
  /** Whether a second factor is needed after the password. */
  twoFactorEnabled: boolean;
  restrictions: ApiRestrictions;
}

export interface NewAccount {
  uuid: string;
  email: string;
  emailKey: string;
  promo: string | null;
  createdAt: number;
}

/** Outcome of AccountStore.changeEmail. */
export type EmailChangeResult = 'changed' | 'taken' | 'inactive';

/** Persistence of accounts, owned by the accounts feature. */
export interface AccountStore {
  /** Inserts a pending account; returns false, writing nothing, when the address is already taken. */
  insertPending(account: NewAccount): Promise<boolean>;
  findByEmailKey(emailKey: string): Promise<Account | null>;
  findByUuid(uuid: string): Promise<Account | null>;
  /** Sets the password hash and makes a pending account active; an active one keeps its state. */
  setPassword(uuid: string, passwordHash: string, now: number): Promise<void>;
  /**
   * Replaces a password hash with a new hash of the same password, as when hash parameters were raised. The
   * password's change time stays, so tokens and sessions are unaffected. Returns false, changing nothing,
   * when the stored hash is no longer `expectedHash` because the password changed meanwhile.
   */
  replacePasswordHash(uuid: string, expectedHash: string, newHash: string): Promise<boolean>;
  /** Stores the HTTP Digest hashes of an account, or clears them with nulls. */
  setDigestHashes(uuid: string, md5: string | null, sha256: string | null): Promise<void>;
  /**
   * Switches an active account to a new address. Returns `taken`, changing nothing, when another account
   * has the address, and `inactive` when the account is not active. A race lost on the unique email_key
   * index also returns `taken`, but on PostgreSQL it aborts an open transaction, so a caller inside one must
   * roll it back.
   */
  changeEmail(uuid: string, email: string, emailKey: string): Promise<EmailChangeResult>;
  /**
   * Turns an account into an anonymised tombstone: state `deleted`, deleted_at set, the address replaced by
   * `deleted:<uuid>` (which frees it, and which no address can equal), password, Digest hashes, promo and
   * profile cleared. The row stays, so the uuid is never handed out again. Returns false, changing nothing,
   * when the account is already deleted or no longer has `emailKey`.
   */
  markDeleted(uuid: string, emailKey: string, now: number): Promise<boolean>;
}
