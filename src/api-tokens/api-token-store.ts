import type { ApiRestrictions } from '../accounts/api-restrictions.js';

/** An API token as its owner sees it; the secret is never stored, only its digest. */
export interface ApiTokenRecord {
  uuid: string;
  accountUuid: string;
  name: string;
  /** A read-only token authenticates only GET, HEAD and OPTIONS requests. */
  readOnly: boolean;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

/** A token found valid, with the API restrictions of its account. */
export interface LiveApiToken extends ApiTokenRecord {
  restrictions: ApiRestrictions;
}

/** Persistence of API tokens, owned by the API token feature. */
export interface ApiTokenStore {
  insert(token: ApiTokenRecord, digest: string): Promise<void>;
  /**
   * Locks the account's row until the transaction of the store ends, so that token creations of one
   * account, on any node, count and insert one after another.
   */
  lockOwner(accountUuid: string): Promise<void>;
  /** Returns the token of this digest when it has not expired at `now` and its account is active. */
  findValid(digest: string, now: number): Promise<LiveApiToken | null>;
  /** Returns the account's tokens, newest first, expired ones included. */
  listOf(accountUuid: string): Promise<ApiTokenRecord[]>;
  /** Deletes the account's token with this uuid; returns false when the account has none. */
  delete(accountUuid: string, uuid: string): Promise<boolean>;
  deleteAllOf(accountUuid: string): Promise<void>;
  /** Sets the token's last-used time to `usedAt` unless the stored one is later than `staleSince`. */
  touch(uuid: string, usedAt: number, staleSince: number): Promise<void>;
}
