import type { Kysely } from 'kysely';

import type { ProfileStore, StoredProfile } from '../profile/profile-store.js';
import type { Dialect } from './database.js';
import type { Database } from './schema.js';

export class KyselyProfileStore implements ProfileStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async find(accountUuid: string, options: { forUpdate?: boolean } = {}): Promise<StoredProfile | null> {
    let query = this.db
      .selectFrom('accounts')
      .select(['uuid', 'email', 'created_at', 'profile_state', 'profile', 'otp_secret', 'network_restrictions'])
      .where('uuid', '=', accountUuid);

    // SQLite runs one write transaction at a time, so only PostgreSQL needs the row lock.
    if (options.forUpdate && this.dialect === 'postgres') query = query.forUpdate();

    const row = await query.executeTakeFirst();
    if (!row) return null;
    return {
      uuid: row.uuid,
      email: row.email,
      createdAt: row.created_at,
      state: row.profile_state,
      twoFactorEnabled: row.otp_secret !== null,
      networkRestrictions: row.network_restrictions,
      values: JSON.parse(row.profile) as Record<string, unknown>,
    };
  }

  async save(accountUuid: string, values: Record<string, unknown>): Promise<void> {
    await this.db
      .updateTable('accounts')
      .set({ profile: JSON.stringify(values), api_https_only: values.api_https_only === true ? 1 : 0 })
      .where('uuid', '=', accountUuid)
      .execute();
  }

  async setState(accountUuid: string, state: string): Promise<void> {
    await this.db.updateTable('accounts').set({ profile_state: state }).where('uuid', '=', accountUuid).execute();
  }
}
