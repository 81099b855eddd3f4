import type { Kysely } from 'kysely';

import type { TokenPurpose, TokenRecord, TokenStore } from '../confirmation/token-store.js';
import type { Database } from './schema.js';

export class KyselyTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: Omit<TokenRecord, 'usedAt'>): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        digest: token.digest,
        account_uuid: token.accountUuid,
        purpose: token.purpose,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
        used_at: null,
        new_email: token.newEmail ?? null,
      })
      .execute();
  }

  async find(digest: string, purpose: TokenPurpose): Promise<TokenRecord | null> {
    const row = await this.db
      .selectFrom('tokens')
      .selectAll()
      .where('digest', '=', digest)
      .where('purpose', '=', purpose)
      .executeTakeFirst();

    if (!row) return null;
    return {
      digest: row.digest,
      accountUuid: row.account_uuid,
      purpose: row.purpose,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      usedAt: row.used_at,
      newEmail: row.new_email,
    };
  }

  async consume(digest: string, now: number): Promise<boolean> {
    // The conditions sit in the UPDATE itself, so of two racing callers only one sees a changed row.
    const consumed = await this.db
      .updateTable('tokens')
      .set({ used_at: now })
      .where('digest', '=', digest)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('digest')
      .executeTakeFirst();

    return consumed !== undefined;
  }

  async invalidateAll(accountUuid: string, now: number): Promise<void> {
    await this.db
      .updateTable('tokens')
      .set({ used_at: now })
      .where('account_uuid', '=', accountUuid)
      .where('used_at', 'is', null)
      .execute();
  }

  async deleteAllOf(accountUuid: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('account_uuid', '=', accountUuid).execute();
  }
}
