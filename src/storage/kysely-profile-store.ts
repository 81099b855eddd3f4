import type { Kysely } from 'kysely';

import type { ProfileStore, StoredProfile } from '../profile/profile-store.js';
import type { Dialect } from './database.js';
import type { Database } from './schema.js';
import type { StoreReadCache } from './store-read-cache.js';

export class KyselyProfileStore implements ProfileStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    /** On SQLite outside transactions: spares repeated reads of a profile while the store is unchanged. */
    private readonly cache: StoreReadCache<StoredProfile> | null = null,
  ) {}

  async find(accountUuid: string, options: { forUpdate?: boolean } = {}): Promise<StoredProfile | null> {
    const cached = this.cache?.get(accountUuid);
    if (cached) return cached;
    const readingBefore = this.cache?.lastReading() ?? 0;

    let query = this.db
      .selectFrom('accounts')
      .select(['uuid', 'email', 'created_at', 'profile_state', 'profile', 'otp_secret', 'network_restrictions'])
      .where('uuid', '=', accountUuid);

    // SQLite runs one write transaction at a time, so only PostgreSQL needs the row lock.
    if (options.forUpdate && this.dialect === 'postgres') query = query.forUpdate();

    const row = await query.executeTakeFirst();
    if (!row) return null;
    const profile: StoredProfile = {
      uuid: row.uuid,
      email: row.email,
      createdAt: row.created_at,
      state: row.profile_state,
      twoFactorEnabled: row.otp_secret !== null,
      networkRestrictions: row.network_restrictions,
      values: Object.freeze(JSON.parse(row.profile) as Record<string, unknown>),
    };
    return this.cache ? this.cache.set(accountUuid, profile, readingBefore) : profile;
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
