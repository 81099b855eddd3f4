import path from 'node:path';

import Database from 'better-sqlite3';

/**
 * Runs `work` on a second connection to a test server's SQLite file, then closes it. The server keeps its
 * own connection open; WAL mode lets both read, and the busy timeout waits out the server's write lock.
 */
export function withDatabaseFile<T>(dataDir: string, work: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, 'sigma-accounts.sqlite'), { timeout: 5000 });
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** Runs a `SELECT count(*) ...` statement on a test server's SQLite file and returns the count. */
export function countRows(dataDir: string, sql: string, ...parameters: unknown[]): number {
  return withDatabaseFile(dataDir, (db) => {
    const row = db.prepare(sql).pluck().get(...parameters);
    return Number(row);
  });
}
