import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type LogEvent,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type SqliteDatabase as SqliteDialectDatabase,
  SqliteDriver,
} from 'kysely';
import type pg from 'pg';

import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Location of the data without credentials, for logs. */
  description: string;
  /** The PostgreSQL connection pool, whose counts metrics report. Null on SQLite, which has no pool. */
  pool: PoolUsage | null;
  /** SQLite only: the clock that shows whether the database may have changed since an earlier reading. Null on PostgreSQL. */
  changes: ChangeClock | null;
}

/**
 * A counter that moves on with every statement of this process that may write, and with every commit of
 * another process to the same file. Two equal readings mean that no data changed in between, so a value
 * read from the database at the first reading is still current at the second.
 */
export interface ChangeClock {
  read(): number;
}

/** Connection counts of a pool, named as pg.Pool names them. */
export interface PoolUsage {
  /** Open connections, idle or checked out. */
  readonly totalCount: number;
  readonly idleCount: number;
  /** Queries waiting for a connection because every one is checked out. */
  readonly waitingCount: number;
}

let postgresDriver: typeof pg | null = null;

/** Loads the PostgreSQL driver on first use, so that a server on SQLite does not hold it in memory. */
function loadPostgresDriver(): typeof pg {
  if (postgresDriver) return postgresDriver;
  const driver = createRequire(import.meta.url)('pg') as typeof pg;
  // BIGINT columns hold millisecond times, which fit a double exactly; pg returns them as strings unless configured otherwise.
  driver.types.setTypeParser(driver.types.builtins.INT8, (value) => Number(value));
  postgresDriver = driver;
  return driver;
}

export interface PoolSettings {
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  databaseConnectTimeoutMs: number;
}

const DEFAULT_POOL: PoolSettings = { databasePoolSize: 10, databaseStatementTimeoutMs: 5000, databaseConnectTimeoutMs: 5000 };

/**
 * Returns the function that Kysely calls after every statement on a store of `dialect`, with the compiled SQL
 * and its duration. Every statement passes through it, so tracing hooks in here.
 */
export type StatementObserver = (dialect: Dialect) => (event: LogEvent) => void;

/** Opens the store named by a `sqlite:PATH` or `postgres://` URL. */
export function openDatabase(
  databaseUrl: string,
  pool: PoolSettings = DEFAULT_POOL,
  onPoolError?: (error: Error) => void,
  observeStatements?: StatementObserver,
): DatabaseHandle {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = databaseUrl.slice('sqlite:'.length);
    fs.mkdirSync(path.dirname(file), { recursive: true });

    const sqlite = new SqliteDatabase(file);
    // WAL lets readers go on while one writer commits. busy_timeout waits for a lock held by another
    // process (the command line) before failing with SQLITE_BUSY, which clients get as a 503. The wait
    // blocks the event loop, because better-sqlite3 is synchronous, so it is kept short.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 1000');

    const changes = new SqliteChangeClock(sqlite);
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite, changes) }), log: observeStatements?.('sqlite') });
    return { db, dialect: 'sqlite', description: `sqlite:${file}`, pool: null, changes };
  }

  const url = new URL(databaseUrl);
  const connections = new (loadPostgresDriver().Pool)({
    connectionString: databaseUrl,
    max: pool.databasePoolSize,
    statement_timeout: pool.databaseStatementTimeoutMs,
    connectionTimeoutMillis: pool.databaseConnectTimeoutMs,
    idleTimeoutMillis: 30_000,
  });
  // A connection that the server drops (a restart, a failover) is reported as an error event, by the pool
  // while the connection is idle and by the client itself while it is checked out. An error event without a
  // listener ends the process, so both get one; the query in flight fails (503) and the next one reconnects.
  connections.on('error', (error) => onPoolError?.(error));
  connections.on('connect', (client) => {
    client.on('error', (error) => onPoolError?.(error));
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: connections }), log: observeStatements?.('postgres') });
  return { db, dialect: 'postgres', description: `postgres://${url.host}${url.pathname}`, pool: connections, changes: null };
}

/** Runs every pending migration; throws when one fails, leaving the failed one unapplied. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();

  if (error) throw error;
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

// Distinct statements the application sends are a few hundred at most; the bound only guards against a
// statement text that varies without end.
const MAX_CACHED_STATEMENTS = 1000;

/**
 * Wraps a better-sqlite3 database so that each distinct SQL text is prepared once and its statement reused:
 * Kysely's SQLite driver prepares every query it runs, and preparing costs more than running a lookup.
 * Kysely calls `prepare` right before it runs each statement, so `changes` counts the writes there.
 */
function withStatementCache(sqlite: SqliteDatabase.Database, changes: SqliteChangeClock): SqliteDialectDatabase {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (!statement) {
        statement = sqlite.prepare(text);
        if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
        statements.set(text, statement);
      }
      // Counted before the write runs and whether or not it commits, so the clock may move on too often, never too rarely.
      if (!statement.readonly) changes.countWrite();
      return statement;
    },
  };
}

/**
 * The change clock of a SQLite file. `PRAGMA data_version` changes when another connection (another
 * process, or the command line) commits. It stays the same for this connection's own commits, which
 * countWrite counts instead.
 */
class SqliteChangeClock implements ChangeClock {
  private ticks = 0;
  private seenVersion: unknown = null;
  private readonly dataVersion: SqliteDatabase.Statement;

  constructor(sqlite: SqliteDatabase.Database) {
    this.dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
  }

  countWrite(): void {
    this.ticks += 1;
  }

  read(): number {
    const version = this.dataVersion.get();
    if (version !== this.seenVersion) {
      this.seenVersion = version;
      this.ticks += 1;
    }
    return this.ticks;
  }
}

/**
 * SQLite's dialect with transactions that take the write lock when they begin. A deferred transaction that
 * reads first cannot wait for the lock when it then writes while another process has committed meanwhile:
 * it fails at once with SQLITE_BUSY_SNAPSHOT. An immediate one waits up to busy_timeout instead. Every
 * transaction of the stores writes, and within this process Kysely runs them one at a time anyway.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(settings);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}
