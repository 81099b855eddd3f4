import type { AccountState } from '../storage/schema.js';

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
  /** Digest hashes (H(email:realm:password)) by algorithm; null until written while Digest is enabled. */
  digestHa1: { md5: string | null; sha256: string | null };
}

export interface NewAccount {
  uuid: string;
  email: string;
  emailKey: string;
  promo: string | null;
  createdAt: number;
}

/** Persistence of accounts, owned by the accounts feature. */
export interface AccountStore {
  /** Inserts a pending account; returns false, writing nothing, when the address is already taken. */
  insertPending(account: NewAccount): Promise<boolean>;
  findByEmailKey(emailKey: string): Promise<Account | null>;
  findByUuid(uuid: string): Promise<Account | null>;
  /** Sets the password hash and makes a pending account active; an active one keeps its state. */
  setPassword(uuid: string, passwordHash: string, now: number): Promise<void>;
  /** Stores the HTTP Digest hashes of an account, or clears them with nulls. */
  setDigestHashes(uuid: string, md5: string | null, sha256: string | null): Promise<void>;
}
