import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Writable profile fields as one JSON object; the read-only ones come from their own columns.
  await db.schema.alterTable('accounts').addColumn('profile', 'text', (column) => column.notNull().defaultTo('{}')).execute();
  await db.schema
    .alterTable('accounts')
    .addColumn('profile_state', 'text', (column) => column.notNull().defaultTo('NEW_USER'))
    .execute();
  // HTTP Digest needs H(username:realm:password) per algorithm; written only while Digest is enabled.
  await db.schema.alterTable('accounts').addColumn('digest_ha1_md5', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('digest_ha1_sha256', 'text').execute();

  await db.schema
    .createTable('digest_nonces')
    .addColumn('nonce', 'text', (column) => column.primaryKey())
    .addColumn('last_count', 'bigint', (column) => column.notNull())
    .addColumn('expires_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('digest_nonces_expires_at').on('digest_nonces').column('expires_at').execute();

  await db.schema
    .createTable('server_secrets')
    .addColumn('name', 'text', (column) => column.primaryKey())
    .addColumn('value', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('server_secrets').execute();
  await db.schema.dropTable('digest_nonces').execute();
  for (const column of ['digest_ha1_sha256', 'digest_ha1_md5', 'profile_state', 'profile']) {
    await db.schema.alterTable('accounts').dropColumn(column).execute();
  }
}
