import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Two-factor authentication: the TOTP secret in use, one being set up, and the highest time step whose
  // code was accepted, so that no code is accepted twice.
  await db.schema.alterTable('accounts').addColumn('otp_secret', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('otp_pending_secret', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('otp_last_step', 'bigint').execute();
  await db.schema.alterTable('accounts').addColumn('otp_enabled_at', 'bigint').execute();

  // API restrictions, read on every authenticated request, so they are columns rather than profile JSON.
  await db.schema.alterTable('accounts').addColumn('api_https_only', 'integer', (column) => column.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('accounts').addColumn('network_restrictions', 'text').execute();
  const flagged = await sql<{ uuid: string; profile: string }>`select uuid, profile from accounts where profile like ${'%api_https_only%'}`.execute(db);
  for (const row of flagged.rows) {
    const profile = JSON.parse(row.profile) as Record<string, unknown>;
    if (profile.api_https_only === true) await sql`update accounts set api_https_only = 1 where uuid = ${row.uuid}`.execute(db);
  }

  // A session of a two-factor account is limited until its second factor is verified.
  await db.schema.alterTable('sessions').addColumn('second_factor_pending', 'integer', (column) => column.notNull().defaultTo(0)).execute();

  await db.schema
    .createTable('otp_recovery_codes')
    .addColumn('digest', 'text', (column) => column.primaryKey())
    .addColumn('account_uuid', 'text', (column) => column.notNull().references('accounts.uuid').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('otp_recovery_codes_account').on('otp_recovery_codes').column('account_uuid').execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('uuid', 'text', (column) => column.primaryKey())
    .addColumn('digest', 'text', (column) => column.notNull().unique())
    .addColumn('account_uuid', 'text', (column) => column.notNull().references('accounts.uuid').onDelete('cascade'))
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('read_only', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('api_tokens_account').on('api_tokens').column('account_uuid').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('api_tokens').execute();
  await db.schema.dropTable('otp_recovery_codes').execute();
  await db.schema.alterTable('sessions').dropColumn('second_factor_pending').execute();
  for (const column of ['network_restrictions', 'api_https_only', 'otp_enabled_at', 'otp_last_step', 'otp_pending_secret', 'otp_secret']) {
    await db.schema.alterTable('accounts').dropColumn(column).execute();
  }
}
