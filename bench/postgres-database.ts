// Fresh databases on the local PostgreSQL server for the benchmark, one per store, dropped afterwards.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import pg from 'pg';

/** The server's maintenance database, from which benchmark databases are created and dropped. */
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Returns the admin URL from BENCH_POSTGRES_URL or the default; only a server on this machine is accepted. */
export function adminUrl(): string {
  const value = process.env.BENCH_POSTGRES_URL?.trim() || DEFAULT_ADMIN_URL;
  if (!URL.canParse(value) || !LOOPBACK.has(new URL(value).hostname)) {
    throw new Error('BENCH_POSTGRES_URL must be a postgres:// URL of a server on 127.0.0.1, such as ' + DEFAULT_ADMIN_URL);
  }
  return value;
}

/** Returns why the server cannot be reached, or null when it accepts a query. */
export async function unreachableReason(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts the Debian cluster `main` of the installed PostgreSQL version when the server is unreachable, as
 * .ci/run does. Returns why it is still unreachable, or null once it accepts a query.
 */
export async function ensurePostgres(url: string): Promise<string | null> {
  const reason = await unreachableReason(url);
  if (reason === null || !fs.existsSync('/etc/postgresql')) return reason;

  const [version] = fs.readdirSync('/etc/postgresql');
  if (version === undefined) return reason;
  console.log(`PostgreSQL is unreachable (${reason}); starting cluster ${version}/main`);
  try {
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' });
  } catch (error) {
    return `pg_ctlcluster ${version} main start failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return unreachableReason(url);
}

/** Returns the server's version string, such as "15.20". */
export async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>('show server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}

const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/;

function checkName(name: string): void {
  // Names are put into SQL as they are, so only those that need no quoting are accepted.
  if (!PLAIN_NAME.test(name)) throw new Error(`invalid database name "${name}": use lower-case letters, digits and underscores`);
}

async function onAdmin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Creates an empty database and returns its URL. `name` must be a plain lower-case identifier. */
export async function createDatabase(url: string, name: string): Promise<string> {
  checkName(name);
  await onAdmin(url, `create database ${name}`);

  const database = new URL(url);
  database.pathname = `/${name}`;
  return database.href;
}

/** Drops a database made by createDatabase, ending the connections still open to it. */
export async function dropDatabase(url: string, name: string): Promise<void> {
  checkName(name);
  await onAdmin(url, `drop database if exists ${name} with (force)`);
}
