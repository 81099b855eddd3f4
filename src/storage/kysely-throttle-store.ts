import type { Kysely } from 'kysely';

import type { Counter, ThrottleStore } from '../throttle/throttle-store.js';
import type { Database } from './schema.js';

// Each write is one statement, so that SQLite's single writer and PostgreSQL's row locks of
// INSERT ... ON CONFLICT make it atomic without an explicit transaction.
export class KyselyThrottleStore implements ThrottleStore {
  constructor(private readonly db: Kysely<Database>) {}

  async hit(key: string, now: number, expiresAt: number, sliding: boolean): Promise<Counter> {
    const row = await this.db
      .insertInto('throttle_counters')
      .values({ key, count: 1, expires_at: expiresAt })
      .onConflict((conflict) =>
        conflict.column('key').doUpdateSet((eb) => {
          // An expired row that the sweep has not deleted yet counts as missing.
          const expired = eb('throttle_counters.expires_at', '<=', now);
          // eb.val makes the time a parameter: then() would write it into the SQL text, whose every new
          // value is a statement of its own to prepare and cache.
          return {
            count: eb.case().when(expired).then(1).else(eb('throttle_counters.count', '+', 1)).end(),
            expires_at: sliding ? expiresAt : eb.case().when(expired).then(eb.val(expiresAt)).else(eb.ref('throttle_counters.expires_at')).end(),
          };
        }),
      )
      .returning(['count', 'expires_at'])
      .executeTakeFirstOrThrow();

    return { count: Number(row.count), expiresAt: Number(row.expires_at) };
  }

  async unhit(key: string, now: number): Promise<void> {
    await this.db
      .updateTable('throttle_counters')
      .set((eb) => ({ count: eb('count', '-', 1) }))
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .where('count', '>', 0)
      .execute();
  }

  async peek(key: string, now: number): Promise<Counter | null> {
    const row = await this.db
      .selectFrom('throttle_counters')
      .select(['count', 'expires_at'])
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .executeTakeFirst();

    return row ? { count: Number(row.count), expiresAt: Number(row.expires_at) } : null;
  }

  async hold(key: string, now: number, until: number): Promise<number | null> {
    const placed = await this.db
      .insertInto('throttle_counters')
      .values({ key, count: 0, expires_at: until })
      .onConflict((conflict) =>
        conflict.column('key').doUpdateSet({ count: 0, expires_at: until }).where('throttle_counters.expires_at', '<=', now),
      )
      .returning('key')
      .executeTakeFirst();
    if (placed) return null;

    // The hold found may end between the two statements; the caller then reports a wait of at least a second.
    const existing = await this.peek(key, now);
    return existing?.expiresAt ?? now;
  }

  async extendHold(key: string, _now: number, until: number): Promise<void> {
    await this.db
      .insertInto('throttle_counters')
      .values({ key, count: 0, expires_at: until })
      .onConflict((conflict) =>
        conflict.column('key').doUpdateSet({ count: 0, expires_at: until }).where('throttle_counters.expires_at', '<', until),
      )
      .execute();
  }

  async clear(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.deleteFrom('throttle_counters').where('key', 'in', keys).execute();
  }

  async sweep(now: number): Promise<number> {
    const result = await this.db.deleteFrom('throttle_counters').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
