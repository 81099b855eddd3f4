// Writes seeded rows into a migrated PostgreSQL store: per batch, one transaction with one multi-row
// INSERT per table, whose varying columns arrive as arrays and are expanded by unnest().
import pg from 'pg';

import { SEED_IP, SEED_USER_AGENT, type SeedBatch, type SeedConstants } from './seed-rows.js';

const INSERT_ACCOUNTS = `
  insert into accounts (uuid, email, email_key, state, password_hash, created_at, confirmed_at, password_changed_at)
  select uuid, email, email_key, 'active', $4, $5, $5, $5
  from unnest($1::text[], $2::text[], $3::text[]) as rows (uuid, email, email_key)`;

const INSERT_SESSIONS = `
  insert into sessions (digest, account_uuid, csrf_digest, public_id, created_at, last_seen_at, expires_at, ip, user_agent)
  select digest, account_uuid, csrf_digest, public_id, $5, $5, $6, $7, $8
  from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as rows (digest, account_uuid, csrf_digest, public_id)`;

/** Returns how many accounts the store has. */
export async function countPostgresAccounts(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ count: string }>('select count(*) as count from accounts');
    return Number(result.rows[0]?.count ?? 0);
  } finally {
    await client.end();
  }
}

/** Inserts every batch, then updates the planner statistics of both tables. */
export async function writePostgresSeed(url: string, batches: Iterable<SeedBatch>, constants: SeedConstants, onBatch: (rows: number) => void): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();

  try {
    // For this connection only: a commit does not wait for the WAL flush. A crash may lose the last
    // batches of the seed, which is acceptable for benchmark data.
    await client.query('set synchronous_commit = off');

    for (const batch of batches) {
      await client.query('begin');
      await client.query(INSERT_ACCOUNTS, [
        batch.accounts.map((account) => account.uuid),
        batch.accounts.map((account) => account.email),
        batch.accounts.map((account) => account.email_key),
        constants.passwordHash,
        constants.seededAt,
      ]);
      await client.query(INSERT_SESSIONS, [
        batch.sessions.map((session) => session.digest),
        batch.sessions.map((session) => session.account_uuid),
        batch.sessions.map((session) => session.csrf_digest),
        batch.sessions.map((session) => session.public_id),
        constants.seededAt,
        constants.expiresAt,
        SEED_IP,
        SEED_USER_AGENT,
      ]);
      await client.query('commit');
      onBatch(batch.accounts.length);
    }

    // Autovacuum would analyze the new rows within minutes; the benchmark cannot wait for it.
    await client.query('analyze accounts');
    await client.query('analyze sessions');
  } finally {
    await client.end();
  }
}
