import type { Stores } from '../storage/store.js';

/** The outcome of redeeming an account's promo code at confirmation. */
export type Redemption =
  | { outcome: 'none' }
  | { outcome: 'unavailable'; code: string }
  | { outcome: 'redeemed'; code: string; grantsState: string | null };

/**
 * Redeems the promo code an account signed up with, once: counts a use of the code, records when on the
 * account, and gives the profile the state the code grants. Call it inside the confirmation transaction
 * with the stores bound to it.
 */
export async function redeemAccountPromo(stores: Stores, accountUuid: string, now: number): Promise<Redemption> {
  const code = await stores.promos.claimAccountPromo(accountUuid, now);
  if (code === null) return { outcome: 'none' };

  // The conditional UPDATE in redeem keeps the limit when confirmations race, on every node. A code that
  // ran out, expired or was disabled since sign-up leaves the account without its effect.
  if (!(await stores.promos.redeem(code, now))) {
    await stores.promos.releaseAccountPromo(accountUuid);
    return { outcome: 'unavailable', code };
  }

  const promo = await stores.promos.find(code);
  const grantsState = promo?.grantsState ?? null;
  if (grantsState !== null) await stores.profiles.setState(accountUuid, grantsState);
  return { outcome: 'redeemed', code, grantsState };
}
