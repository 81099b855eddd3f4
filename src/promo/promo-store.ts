export interface PromoCode {
  /** Upper case. */
  code: string;
  grantsState: string | null;
  maxUses: number | null;
  uses: number;
  expiresAt: number | null;
  disabledAt: number | null;
  createdAt: number;
}

/** Persistence of promo codes, owned by the promo feature. */
export interface PromoStore {
  /** Inserts a code; returns false, changing nothing, when the code exists. */
  insert(code: Omit<PromoCode, 'uses' | 'disabledAt'>): Promise<boolean>;
  find(code: string): Promise<PromoCode | null>;
  list(): Promise<PromoCode[]>;
  /** Disables a code; returns false when there is no such code. */
  disable(code: string, now: number): Promise<boolean>;
  /**
   * Counts one use of a code that is enabled, unexpired and below its limit. Returns false, changing
   * nothing, otherwise; of racing callers at the limit only as many succeed as uses remain.
   */
  redeem(code: string, now: number): Promise<boolean>;
  /**
   * Marks the promo code of an account as redeemed at `now` and returns the code. Returns null, changing
   * nothing, when the account has no code or it is marked already. Inside a transaction the account row
   * stays locked until the end, so that of two confirmations of one account only one redeems its code.
   */
  claimAccountPromo(accountUuid: string, now: number): Promise<string | null>;
  /** Clears the mark that claimAccountPromo set, for a code that could not be redeemed. */
  releaseAccountPromo(accountUuid: string): Promise<void>;
}
