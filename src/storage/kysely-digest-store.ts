import type { Kysely } from 'kysely';

import type { DigestStore } from '../digest/digest-store.js';
import type { Database } from './schema.js';

export class KyselyDigestStore implements DigestStore {
  constructor(private readonly db: Kysely<Database>) {}

  async advanceNonceCount(nonce: string, count: number, expiresAt: number): Promise<boolean> {
    // One statement, so that two nodes checking the same count cannot both succeed.
    const advanced = await this.db
      .insertInto('digest_nonces')
      .values({ nonce, last_count: count, expires_at: expiresAt })
      .onConflict((conflict) =>
        conflict.column('nonce').doUpdateSet({ last_count: count }).where('digest_nonces.last_count', '<', count),
      )
      .returning('nonce')
      .executeTakeFirst();

    return advanced !== undefined;
  }

  async deleteExpiredNonces(now: number): Promise<void> {
    await this.db.deleteFrom('digest_nonces').where('expires_at', '<', now).execute();
  }

  async secret(name: string, create: () => string, now: number): Promise<string> {
    await this.db
      .insertInto('server_secrets')
      .values({ name, value: create(), created_at: now })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .execute();

    const row = await this.db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
    return row.value;
  }
}
