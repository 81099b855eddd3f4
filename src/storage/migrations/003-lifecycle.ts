import { randomUUID } from 'node:crypto';

import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Deleted accounts stay as anonymised tombstones, so that their uuid is never handed out again.
  await db.schema.alterTable('accounts').addColumn('deleted_at', 'bigint').execute();
  await db.schema.alterTable('accounts').addColumn('promo_redeemed_at', 'bigint').execute();

  // The address an email-change token switches to.
  await db.schema.alterTable('tokens').addColumn('new_email', 'text').execute();

  // The id by which the owner names a session in the API; the session id itself is never shown.
  await db.schema.alterTable('sessions').addColumn('public_id', 'text').execute();
  const rows = await sql<{ digest: string }>`select digest from sessions`.execute(db);
  for (const row of rows.rows) {
    await sql`update sessions set public_id = ${randomUUID()} where digest = ${row.digest}`.execute(db);
  }
  await db.schema.createIndex('sessions_public_id').on('sessions').column('public_id').unique().execute();

  await db.schema
    .createTable('promo_codes')
    .addColumn('code', 'text', (column) => column.primaryKey())
    .addColumn('grants_state', 'text')
    .addColumn('max_uses', 'integer')
    .addColumn('uses', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('expires_at', 'bigint')
    .addColumn('disabled_at', 'bigint')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('promo_codes').execute();
  await db.schema.dropIndex('sessions_public_id').execute();
  await db.schema.alterTable('sessions').dropColumn('public_id').execute();
  await db.schema.alterTable('tokens').dropColumn('new_email').execute();
  await db.schema.alterTable('accounts').dropColumn('promo_redeemed_at').execute();
  await db.schema.alterTable('accounts').dropColumn('deleted_at').execute();
}
