import type { AccountState } from '../storage/schema.js';

/** One account as operators see it: no secrets, no profile fields. */
export interface AccountSummary {
  uuid: string;
  email: string;
  state: AccountState;
  profileState: string;
  promo: string | null;
  createdAt: number;
  confirmedAt: number | null;
  sessions: number;
  twoFactorEnabled: boolean;
  /** Comma-separated CIDRs that API calls must come from, or null for anywhere. */
  networkRestrictions: string | null;
}

export type MailFilter = 'pending' | 'sent' | 'failed' | 'all';

export interface MailSummary {
  id: string;
  recipient: string;
  subject: string;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  sentAt: number | null;
  failedAt: number | null;
  lastError: string | null;
}

/** What the operator command line reads and changes beyond the features' own stores. */
export interface AdminStore {
  listAccounts(options: { limit: number; offset: number; state?: AccountState }): Promise<AccountSummary[]>;
  /** Finds an account by uuid or by its normalised address. */
  findAccount(uuidOrEmailKey: string): Promise<AccountSummary | null>;
  /** Moves an account between active and disabled; returns false when it is in neither state. */
  setActive(uuid: string, active: boolean): Promise<boolean>;
  setProfileState(uuid: string, state: string): Promise<void>;
  /** Sets the networks that the account's API calls must come from; null allows every network. */
  setNetworkRestrictions(uuid: string, networks: string | null): Promise<void>;
  listMail(filter: MailFilter, limit: number): Promise<MailSummary[]>;
  /** Makes a given-up or waiting message due now, with its attempts reset; returns false when it was sent. */
  retryMail(id: string, now: number): Promise<boolean>;
}
