import { createHash } from 'node:crypto';

import { sqlRows, testStore } from './store.js';

/**
 * Columns left out of snapshots, because they change without a request or on every use of a valid
 * credential, whatever the response.
 */
export const VOLATILE_COLUMNS: Record<string, string[]> = {
  // The mail worker delivers queued messages in the background.
  outbox: ['attempts', 'next_attempt_at', 'lease_until', 'sent_at', 'failed_at', 'last_error'],
  // A valid session cookie records its use at most once a minute, also when the request is then rejected
  // (a failed CSRF check, an invalid body of an authenticated action).
  sessions: ['last_seen_at'],
};

/** The rows of one table, each as canonical JSON, sorted, with their count and SHA-256 digest. */
export interface TableState {
  count: number;
  digest: string;
  rows: string[];
}

export type Snapshot = Map<string, TableState>;

/**
 * Tables that a rejected request writes to by design, left out of snapshots. The audit trail's own hash
 * chain shows whether a record was changed or deleted, so a test checks the chain once instead of reading
 * every record for every request.
 */
export const REJECTION_WRITES = new Set([
  // Throttling counts failed password checks and requests that send mail, whatever their response.
  'throttle_counters',
  // The audit trail records failed logins and other refused attempts.
  'audit_log',
  // The head of the audit hash chain moves with every record added.
  'audit_head',
]);

/** The tables of a test server's database and their columns, minus VOLATILE_COLUMNS. */
export type TableColumns = Map<string, string[]>;

/** Lists every table of the database with the columns that snapshots compare. */
export async function tableColumns(dataDir: string): Promise<TableColumns> {
  const query =
    testStore() === 'sqlite'
      ? `SELECT m.name AS table_name, c.name AS column_name
         FROM sqlite_master m JOIN pragma_table_info(m.name) c
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
         ORDER BY m.name, c.cid`
      : `SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = current_schema()
         ORDER BY table_name, ordinal_position`;
  const rows = await sqlRows<{ table_name: string; column_name: string }>(dataDir, query);

  const tables: TableColumns = new Map();
  for (const { table_name: table, column_name: column } of rows) {
    if (REJECTION_WRITES.has(table) || VOLATILE_COLUMNS[table]?.includes(column)) continue;
    tables.set(table, [...(tables.get(table) ?? []), column]);
  }
  return tables;
}

/** Reads every table in one statement (one connection) and returns its rows and digests. */
export async function snapshotTables(dataDir: string, tables: TableColumns): Promise<Snapshot> {
  const [row = {}] = await sqlRows<Record<string, unknown>>(dataDir, `SELECT ${[...tables].map(tableAsJson).join(', ')}`);

  const snapshot: Snapshot = new Map();
  for (const table of tables.keys()) {
    const value = row[table];
    // SQLite returns the aggregate as JSON text, and pg parses PostgreSQL's json type itself.
    const records = (typeof value === 'string' ? JSON.parse(value) : value ?? []) as Array<Record<string, unknown>>;
    const lines = records.map(canonicalJson).sort();
    snapshot.set(table, { count: lines.length, digest: createHash('sha256').update(lines.join('\n')).digest('hex'), rows: lines });
  }
  return snapshot;
}

/** Describes how two snapshots differ, table by table with a few added and removed rows, or returns null. */
export function snapshotDifference(before: Snapshot, after: Snapshot, rowsShown = 3): string | null {
  const changes: string[] = [];

  for (const [table, state] of after) {
    const earlier = before.get(table);
    if (earlier && earlier.digest === state.digest) continue;

    const previous = new Set(earlier?.rows ?? []);
    const current = new Set(state.rows);
    const added = state.rows.filter((line) => !previous.has(line));
    const removed = (earlier?.rows ?? []).filter((line) => !current.has(line));

    changes.push(
      `${table}: ${earlier?.count ?? 0} -> ${state.count} rows`,
      ...added.slice(0, rowsShown).map((line) => `  + ${line.slice(0, 400)}`),
      ...removed.slice(0, rowsShown).map((line) => `  - ${line.slice(0, 400)}`),
    );
  }
  return changes.length === 0 ? null : changes.join('\n');
}

function tableAsJson([table, columns]: [string, string[]]): string {
  const pairs = columns.map((column) => `'${column}', "${column}"`).join(', ');
  return testStore() === 'sqlite'
    ? `(SELECT json_group_array(json_object(${pairs})) FROM "${table}") AS "${table}"`
    : `(SELECT coalesce(json_agg(json_build_object(${pairs})), '[]'::json) FROM "${table}") AS "${table}"`;
}

function canonicalJson(record: Record<string, unknown>): string {
  return JSON.stringify(record, Object.keys(record).sort());
}
