import { createHash } from 'node:crypto';
import path from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';

/** The PostgreSQL server of this machine kind: trust authentication on loopback. */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Prefix of every database the tests create, so that a run can drop what an earlier run left. */
export const TEST_DATABASE_PREFIX = 'sigma_test_';

/** Which store the HTTP tests run on: `TEST_STORE=postgres` selects PostgreSQL, anything else SQLite. */
export function testStore(): 'sqlite' | 'postgres' {
  return process.env.TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

/**
 * Returns the DATABASE_URL of a test server's data folder. On PostgreSQL each folder gets a database of
 * its own, named after the folder, so that restarting on the same folder reopens the same data.
 */
export function databaseUrlFor(dataDir: string): string {
  if (testStore() === 'sqlite') return `sqlite:${path.join(dataDir, 'sigma-accounts.sqlite')}`;

  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${databaseNameFor(dataDir)}`;
  return url.href;
}

function databaseNameFor(dataDir: string): string {
  return TEST_DATABASE_PREFIX + createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
}

/** Creates the PostgreSQL database of a data folder unless it exists; does nothing on SQLite. */
export async function ensureDatabase(dataDir: string): Promise<void> {
  if (testStore() === 'sqlite') return;

  const name = databaseNameFor(dataDir);
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  } catch (error) {
    // Two servers of one folder may race to create it; the loser finds it made (42P04).
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}

/**
 * Runs one SQL statement on the database of a test server's data folder and returns its rows. Write
 * parameters as `?`; they become `$1`, `$2`, ... on PostgreSQL. Numbers come back as numbers on both.
 */
export async function sqlRows<T = Record<string, unknown>>(dataDir: string, text: string, parameters: unknown[] = []): Promise<T[]> {
  if (testStore() === 'sqlite') {
    const db = new Database(path.join(dataDir, 'sigma-accounts.sqlite'), { timeout: 5000 });
    try {
      const statement = db.prepare(text);
      if (statement.reader) return statement.all(...parameters) as T[];
      statement.run(...parameters);
      return [];
    } finally {
      db.close();
    }
  }

  let index = 0;
  const numbered = text.replace(/\?/g, () => `$${++index}`);
  const client = new pg.Client({ connectionString: databaseUrlFor(dataDir) });
  await client.connect();
  try {
    const result = await client.query(numbered, parameters);
    return result.rows.map((row: Record<string, unknown>) => numbersOf(row)) as T[];
  } finally {
    await client.end();
  }
}

/** Returns the single number that a `SELECT count(*) ...` statement returns. */
export async function countRows(dataDir: string, text: string, ...parameters: unknown[]): Promise<number> {
  const [row] = await sqlRows(dataDir, text, parameters);
  return Number(Object.values(row ?? {})[0] ?? 0);
}

// pg returns count(*) and BIGINT columns as strings; the tests compare them as numbers.
function numbersOf(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key, typeof value === 'string' && /^-?\d+$/.test(value) && key !== 'id' ? Number(value) : value]),
  );
}

/** Drops every database an earlier run of the tests created. */
export async function dropTestDatabases(): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${TEST_DATABASE_PREFIX}%`,
    ]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
