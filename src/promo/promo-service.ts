import { isoWithOffset } from '../iso-time.js';
import type { PromoStore } from './promo-store.js';

/** The outcome of checking the `promo` of a sign-up: the code to store (null for none), or why it is rejected. */
export type PromoCheck = { ok: true; code: string | null } | { ok: false; reason: string };

// The operator CLI creates codes of this form; anything else cannot name a code.
const PROMO_CODE = /^[A-Z0-9_-]{1,64}$/;

/** Returns a code in the form it is stored in: trimmed and upper case, since codes ignore case. */
export function normalizePromoCode(input: string): string {
  return input.trim().toUpperCase();
}

/** Checks promo codes given at sign-up; redemption happens later, at confirmation. */
export class PromoService {
  constructor(private readonly promos: PromoStore) {}

  /**
   * Checks the `promo` of a sign-up against the stored codes. Null or blank means no code. A code that
   * passes may still run out before the account is confirmed.
   */
  async check(input: string | null, now: number): Promise<PromoCheck> {
    if (input === null || input.trim() === '') return { ok: true, code: null };

    const code = normalizePromoCode(input);
    const promo = PROMO_CODE.test(code) ? await this.promos.find(code) : null;
    const quoted = JSON.stringify(input.trim());

    if (!promo) return { ok: false, reason: `promo ${quoted} is not a valid promo code; check the spelling, or leave promo empty` };
    if (promo.disabledAt !== null) return { ok: false, reason: `promo ${quoted} has been withdrawn and is no longer accepted` };
    if (promo.expiresAt !== null && promo.expiresAt <= now) {
      return { ok: false, reason: `promo ${quoted} expired at ${isoWithOffset(promo.expiresAt)}` };
    }
    if (promo.maxUses !== null && promo.uses >= promo.maxUses) {
      const limit = promo.maxUses === 1 ? '1 use' : `${promo.maxUses} uses`;
      return { ok: false, reason: `promo ${quoted} is used up: its limit of ${limit} has been reached` };
    }
    return { ok: true, code };
  }
}
