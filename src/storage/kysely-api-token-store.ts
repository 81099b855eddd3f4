import type { Kysely, Selectable } from 'kysely';

import type { ApiTokenRecord, ApiTokenStore, LiveApiToken } from '../api-tokens/api-token-store.js';
import type { Dialect } from './database.js';
import type { ApiTokenTable, Database } from './schema.js';

export class KyselyApiTokenStore implements ApiTokenStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async lockOwner(accountUuid: string): Promise<void> {
    // SQLite runs one write transaction at a time, so only PostgreSQL needs the row lock.
    if (this.dialect !== 'postgres') return;
    await this.db.selectFrom('accounts').select('uuid').where('uuid', '=', accountUuid).forUpdate().execute();
  }

  async insert(token: ApiTokenRecord, digest: string): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        uuid: token.uuid,
        digest,
        account_uuid: token.accountUuid,
        name: token.name,
        read_only: token.readOnly ? 1 : 0,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
        last_used_at: token.lastUsedAt,
      })
      .execute();
  }

  async findValid(digest: string, now: number): Promise<LiveApiToken | null> {
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('accounts', 'accounts.uuid', 'api_tokens.account_uuid')
      .selectAll('api_tokens')
      .select(['accounts.api_https_only', 'accounts.network_restrictions'])
      .where('api_tokens.digest', '=', digest)
      .where('accounts.state', '=', 'active')
      .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', now)]))
      .executeTakeFirst();
    if (!row) return null;

    return { ...toRecord(row), restrictions: { httpsOnly: row.api_https_only === 1, networks: row.network_restrictions } };
  }

  async listOf(accountUuid: string): Promise<ApiTokenRecord[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('account_uuid', '=', accountUuid)
      .orderBy('created_at', 'desc')
      .orderBy('uuid')
      .execute();
    return rows.map(toRecord);
  }

  async delete(accountUuid: string, uuid: string): Promise<boolean> {
    const deleted = await this.db
      .deleteFrom('api_tokens')
      .where('account_uuid', '=', accountUuid)
      .where('uuid', '=', uuid)
      .returning('uuid')
      .executeTakeFirst();
    return deleted !== undefined;
  }

  async deleteAllOf(accountUuid: string): Promise<void> {
    await this.db.deleteFrom('api_tokens').where('account_uuid', '=', accountUuid).execute();
  }

  async touch(uuid: string, usedAt: number, staleSince: number): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ last_used_at: usedAt })
      .where('uuid', '=', uuid)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', staleSince)]))
      .execute();
  }
}

function toRecord(row: Selectable<ApiTokenTable>): ApiTokenRecord {
  return {
    uuid: row.uuid,
    accountUuid: row.account_uuid,
    name: row.name,
    readOnly: row.read_only === 1,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
  };
}
