// Writes seeded rows into a migrated SQLite store with better-sqlite3: prepared statements, one
// transaction per batch.
import SqliteDatabase from 'better-sqlite3';

import { SEED_IP, SEED_USER_AGENT, type SeedBatch, type SeedConstants } from './seed-rows.js';

/** Returns how many accounts the store has. */
export function countSqliteAccounts(file: string): number {
  const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('select count(*) as count from accounts').get() as { count: number };
    return row.count;
  } finally {
    db.close();
  }
}

/** Inserts every batch; the server must not be running, because each batch holds the write lock. */
export function writeSqliteSeed(file: string, batches: Iterable<SeedBatch>, constants: SeedConstants, onBatch: (rows: number) => void): void {
  const db = new SqliteDatabase(file, { fileMustExist: true });
  // Both settings last only for this connection. A crash during seeding may lose the seed, which is
  // acceptable for benchmark data, and a large page cache keeps the random-key indexes in memory.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -524288');

  const insertAccount = db.prepare(
    `insert into accounts (uuid, email, email_key, state, password_hash, created_at, confirmed_at, password_changed_at)
     values (?, ?, ?, 'active', ?, ?, ?, ?)`,
  );
  const insertSession = db.prepare(
    `insert into sessions (digest, account_uuid, csrf_digest, public_id, created_at, last_seen_at, expires_at, ip, user_agent)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const { passwordHash, seededAt, expiresAt } = constants;

  const insertBatch = db.transaction((batch: SeedBatch) => {
    for (const account of batch.accounts) {
      insertAccount.run(account.uuid, account.email, account.email_key, passwordHash, seededAt, seededAt, seededAt);
    }
    for (const session of batch.sessions) {
      insertSession.run(session.digest, session.account_uuid, session.csrf_digest, session.public_id, seededAt, seededAt, expiresAt, SEED_IP, SEED_USER_AGENT);
    }
  });

  try {
    for (const batch of batches) {
      insertBatch(batch);
      onBatch(batch.accounts.length);
    }
  } finally {
    db.close();
  }
}
