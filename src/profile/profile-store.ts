/** What the profile feature reads of an account. */
export interface StoredProfile {
  uuid: string;
  email: string;
  createdAt: number;
  state: string;
  twoFactorEnabled: boolean;
  /** Comma-separated CIDRs that operators restricted API calls to, or null. */
  networkRestrictions: string | null;
  /** Writable fields that were ever written. */
  values: Record<string, unknown>;
}

/** Persistence of account profiles, owned by the profile feature. */
export interface ProfileStore {
  /** With `forUpdate`, the row stays locked until the transaction of the store ends. */
  find(accountUuid: string, options?: { forUpdate?: boolean }): Promise<StoredProfile | null>;
  /** Replaces the written fields of the profile with `values`, and mirrors `api_https_only` where it is enforced. */
  save(accountUuid: string, values: Record<string, unknown>): Promise<void>;
  /** Sets the profile's `state`, such as TRIAL. */
  setState(accountUuid: string, state: string): Promise<void>;
}
