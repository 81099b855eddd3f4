import type { Kysely, Selectable } from 'kysely';

import type { PromoCode, PromoStore } from '../promo/promo-store.js';
import type { Database, PromoCodeTable } from './schema.js';

export class KyselyPromoStore implements PromoStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(code: Omit<PromoCode, 'uses' | 'disabledAt'>): Promise<boolean> {
    const inserted = await this.db
      .insertInto('promo_codes')
      .values({
        code: code.code,
        grants_state: code.grantsState,
        max_uses: code.maxUses,
        expires_at: code.expiresAt,
        disabled_at: null,
        created_at: code.createdAt,
      })
      .onConflict((conflict) => conflict.column('code').doNothing())
      .returning('code')
      .executeTakeFirst();

    return inserted !== undefined;
  }

  async find(code: string): Promise<PromoCode | null> {
    const row = await this.db.selectFrom('promo_codes').selectAll().where('code', '=', code).executeTakeFirst();
    return row ? toPromoCode(row) : null;
  }

  async list(): Promise<PromoCode[]> {
    const rows = await this.db.selectFrom('promo_codes').selectAll().orderBy('created_at').orderBy('code').execute();
    return rows.map(toPromoCode);
  }

  async disable(code: string, now: number): Promise<boolean> {
    const changed = await this.db
      .updateTable('promo_codes')
      .set((eb) => ({ disabled_at: eb.fn.coalesce('disabled_at', eb.val(now)) }))
      .where('code', '=', code)
      .returning('code')
      .executeTakeFirst();

    return changed !== undefined;
  }

  async redeem(code: string, now: number): Promise<boolean> {
    // Every condition sits in the UPDATE, so the limit holds however many confirmations race, on any node.
    const redeemed = await this.db
      .updateTable('promo_codes')
      .set((eb) => ({ uses: eb('uses', '+', 1) }))
      .where('code', '=', code)
      .where('disabled_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
      .returning('code')
      .executeTakeFirst();

    return redeemed !== undefined;
  }

  async claimAccountPromo(accountUuid: string, now: number): Promise<string | null> {
    const claimed = await this.db
      .updateTable('accounts')
      .set({ promo_redeemed_at: now })
      .where('uuid', '=', accountUuid)
      .where('promo', 'is not', null)
      .where('promo_redeemed_at', 'is', null)
      .returning('promo')
      .executeTakeFirst();

    return claimed?.promo ?? null;
  }

  async releaseAccountPromo(accountUuid: string): Promise<void> {
    await this.db.updateTable('accounts').set({ promo_redeemed_at: null }).where('uuid', '=', accountUuid).execute();
  }
}

function toPromoCode(row: Selectable<PromoCodeTable>): PromoCode {
  return {
    code: row.code,
    grantsState: row.grants_state,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: row.expires_at,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
  };
}
