/** The two-factor settings of an account. */
export interface TwoFactorState {
  /** Base32 TOTP secret while two-factor authentication is on, else null. */
  secret: string | null;
  /** Secret handed out by otp_setup and not yet confirmed with a code. */
  pendingSecret: string | null;
  /** The highest time step whose code was accepted, or null. */
  lastStep: number | null;
  /** How many recovery codes are still unused. */
  recoveryCodesLeft: number;
}

/** Persistence of two-factor secrets and recovery codes, owned by the two-factor feature. */
export interface TwoFactorStore {
  find(accountUuid: string): Promise<TwoFactorState | null>;
  /** Stores a secret to be confirmed by the next otp_enable, replacing any earlier one. */
  setPendingSecret(accountUuid: string, secret: string): Promise<void>;
  /**
   * Turns two-factor authentication on with `secret`, which must still be the pending secret and not yet
   * in use, and records `step` as used. Returns false, changing nothing, otherwise.
   */
  enable(accountUuid: string, secret: string, step: number, now: number): Promise<boolean>;
  /** Turns two-factor authentication off and deletes the recovery codes. */
  disable(accountUuid: string): Promise<void>;
  /**
   * Records that a code of `step` was accepted. Returns false, changing nothing, when a code of this step or
   * a later one was already accepted: each code is usable once, on every node.
   */
  advanceStep(accountUuid: string, step: number): Promise<boolean>;
  /** Replaces every recovery code of the account with codes of these digests. */
  replaceRecoveryCodes(accountUuid: string, digests: string[], now: number): Promise<void>;
  /** Marks an unused recovery code used; returns false when the account has no such unused code. */
  useRecoveryCode(accountUuid: string, digest: string, now: number): Promise<boolean>;
}
