import type { Kysely, Selectable } from 'kysely';

import type { Account, AccountStore, EmailChangeResult, NewAccount } from '../accounts/account-store.js';
import type { AccountState, AccountTable, Database } from './schema.js';

export class KyselyAccountStore implements AccountStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insertPending(account: NewAccount): Promise<boolean> {
    const inserted = await this.db
      .insertInto('accounts')
      .values({
        uuid: account.uuid,
        email: account.email,
        email_key: account.emailKey,
        state: 'pending',
        password_hash: null,
        promo: account.promo,
        created_at: account.createdAt,
        confirmed_at: null,
        password_changed_at: null,
      })
      .onConflict((conflict) => conflict.column('email_key').doNothing())
      .returning('uuid')
      .executeTakeFirst();

    return inserted !== undefined;
  }

  async findByEmailKey(emailKey: string): Promise<Account | null> {
    const row = await this.db.selectFrom('accounts').selectAll().where('email_key', '=', emailKey).executeTakeFirst();
    return row ? toAccount(row) : null;
  }

  async findByUuid(uuid: string): Promise<Account | null> {
    const row = await this.db.selectFrom('accounts').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? toAccount(row) : null;
  }

  async setPassword(uuid: string, passwordHash: string, now: number): Promise<void> {
    await this.db
      .updateTable('accounts')
      .set((eb) => ({
        password_hash: passwordHash,
        password_changed_at: now,
        state: eb.case().when('state', '=', 'pending').then(eb.val<AccountState>('active')).else(eb.ref('state')).end(),
        confirmed_at: eb.fn.coalesce('confirmed_at', eb.val(now)),
      }))
      .where('uuid', '=', uuid)
      .execute();
  }

  async replacePasswordHash(uuid: string, expectedHash: string, newHash: string): Promise<boolean> {
    const replaced = await this.db
      .updateTable('accounts')
      .set({ password_hash: newHash })
      .where('uuid', '=', uuid)
      .where('password_hash', '=', expectedHash)
      .returning('uuid')
      .executeTakeFirst();

    return replaced !== undefined;
  }

  async setDigestHashes(uuid: string, md5: string | null, sha256: string | null): Promise<void> {
    await this.db.updateTable('accounts').set({ digest_ha1_md5: md5, digest_ha1_sha256: sha256 }).where('uuid', '=', uuid).execute();
  }

  async changeEmail(uuid: string, email: string, emailKey: string): Promise<EmailChangeResult> {
    const holder = await this.db.selectFrom('accounts').select('uuid').where('email_key', '=', emailKey).executeTakeFirst();
    if (holder && holder.uuid !== uuid) return 'taken';

    try {
      const changed = await this.db
        .updateTable('accounts')
        .set({ email, email_key: emailKey })
        .where('uuid', '=', uuid)
        .where('state', '=', 'active')
        .returning('uuid')
        .executeTakeFirst();
      return changed ? 'changed' : 'inactive';
    } catch (error) {
      // On PostgreSQL another transaction can take the address after the check above; the unique index
      // then rejects this UPDATE once that transaction commits.
      if (isUniqueViolation(error)) return 'taken';
      throw error;
    }
  }

  async markDeleted(uuid: string, emailKey: string, now: number): Promise<boolean> {
    // Real addresses always contain an @, so this value can neither collide with one nor be logged in with.
    const tombstoneAddress = `deleted:${uuid}`;

    const deleted = await this.db
      .updateTable('accounts')
      .set({
        state: 'deleted',
        deleted_at: now,
        email: tombstoneAddress,
        email_key: tombstoneAddress,
        password_hash: null,
        digest_ha1_md5: null,
        digest_ha1_sha256: null,
        promo: null,
        profile: '{}',
        otp_secret: null,
        otp_pending_secret: null,
        otp_last_step: null,
        otp_enabled_at: null,
        api_https_only: 0,
        network_restrictions: null,
      })
      .where('uuid', '=', uuid)
      .where('email_key', '=', emailKey)
      .where('state', '!=', 'deleted')
      .returning('uuid')
      .executeTakeFirst();

    return deleted !== undefined;
  }
}

// Unique-constraint violations: PostgreSQL's SQLSTATE, and better-sqlite3's extended result code.
function isUniqueViolation(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function toAccount(row: Selectable<AccountTable>): Account {
  return {
    uuid: row.uuid,
    email: row.email,
    emailKey: row.email_key,
    state: row.state,
    passwordHash: row.password_hash,
    promo: row.promo,
    createdAt: row.created_at,
    confirmedAt: row.confirmed_at,
    passwordChangedAt: row.password_changed_at,
    digestHa1: { md5: row.digest_ha1_md5, sha256: row.digest_ha1_sha256 },
    twoFactorEnabled: row.otp_secret !== null,
    restrictions: { httpsOnly: row.api_https_only === 1, networks: row.network_restrictions },
  };
}
