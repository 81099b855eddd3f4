import type { Kysely } from 'kysely';

import type { TwoFactorState, TwoFactorStore } from '../two-factor/two-factor-store.js';
import type { Database } from './schema.js';

export class KyselyTwoFactorStore implements TwoFactorStore {
  constructor(private readonly db: Kysely<Database>) {}

  async find(accountUuid: string): Promise<TwoFactorState | null> {
    const row = await this.db
      .selectFrom('accounts')
      .select(['otp_secret', 'otp_pending_secret', 'otp_last_step'])
      .select((eb) =>
        eb
          .selectFrom('otp_recovery_codes')
          .select((inner) => inner.fn.countAll().as('left'))
          .whereRef('otp_recovery_codes.account_uuid', '=', 'accounts.uuid')
          .where('otp_recovery_codes.used_at', 'is', null)
          .as('recovery_codes_left'),
      )
      .where('uuid', '=', accountUuid)
      .executeTakeFirst();
    if (!row) return null;

    return {
      secret: row.otp_secret,
      pendingSecret: row.otp_pending_secret,
      lastStep: row.otp_last_step,
      recoveryCodesLeft: Number(row.recovery_codes_left ?? 0),
    };
  }

  async setPendingSecret(accountUuid: string, secret: string): Promise<void> {
    await this.db.updateTable('accounts').set({ otp_pending_secret: secret }).where('uuid', '=', accountUuid).execute();
  }

  async enable(accountUuid: string, secret: string, step: number, now: number): Promise<boolean> {
    const updated = await this.db
      .updateTable('accounts')
      .set({ otp_secret: secret, otp_pending_secret: null, otp_last_step: step, otp_enabled_at: now })
      .where('uuid', '=', accountUuid)
      .where('otp_pending_secret', '=', secret)
      .where('otp_secret', 'is', null)
      .returning('uuid')
      .executeTakeFirst();

    return updated !== undefined;
  }

  async disable(accountUuid: string): Promise<void> {
    await this.db
      .updateTable('accounts')
      .set({ otp_secret: null, otp_pending_secret: null, otp_last_step: null, otp_enabled_at: null })
      .where('uuid', '=', accountUuid)
      .execute();
    await this.db.deleteFrom('otp_recovery_codes').where('account_uuid', '=', accountUuid).execute();
  }

  async advanceStep(accountUuid: string, step: number): Promise<boolean> {
    // The comparison sits in the UPDATE, so of two nodes checking the same code only one succeeds.
    const updated = await this.db
      .updateTable('accounts')
      .set({ otp_last_step: step })
      .where('uuid', '=', accountUuid)
      .where((eb) => eb.or([eb('otp_last_step', 'is', null), eb('otp_last_step', '<', step)]))
      .returning('uuid')
      .executeTakeFirst();

    return updated !== undefined;
  }

  async replaceRecoveryCodes(accountUuid: string, digests: string[], now: number): Promise<void> {
    await this.db.deleteFrom('otp_recovery_codes').where('account_uuid', '=', accountUuid).execute();
    if (digests.length === 0) return;
    await this.db
      .insertInto('otp_recovery_codes')
      .values(digests.map((digest) => ({ digest, account_uuid: accountUuid, created_at: now, used_at: null })))
      .execute();
  }

  async useRecoveryCode(accountUuid: string, digest: string, now: number): Promise<boolean> {
    const updated = await this.db
      .updateTable('otp_recovery_codes')
      .set({ used_at: now })
      .where('digest', '=', digest)
      .where('account_uuid', '=', accountUuid)
      .where('used_at', 'is', null)
      .returning('digest')
      .executeTakeFirst();

    return updated !== undefined;
  }
}
