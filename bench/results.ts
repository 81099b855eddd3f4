// The results of one `npm run bench`, as the report and the targets read them.
import type { Argon2Result } from './argon2-baseline.js';
import type { ProfileSummary } from './cpu-profile.js';
import type { MeasuredRun } from './load.js';
import type { Operation } from './scenarios.js';

/**
 * One operation's run, and the run of the hello baseline just before it under the same load. The ratio
 * of the two is what the targets judge, so that a change in machine load between operations shifts both.
 */
export interface OperationResult {
  operation: Operation;
  run: MeasuredRun;
  hello: MeasuredRun;
}

/** Runs against one server. */
export interface RunGroup {
  rows: OperationResult[];
  /** Resident set of the server before the first run, in bytes. */
  startRssBytes: number;
}

/** Runs against a server of several processes (WORKERS), on a small SQLite store. */
export interface MultiCoreGroup extends RunGroup {
  workers: number;
}

export interface ScaleGroup extends RunGroup {
  accounts: number;
  seedSeconds: number;
}

/** One run at a fixed rate, or the closed-loop storm beside one. */
export interface FixedRateResult {
  operation: Operation | 'hello';
  run: MeasuredRun;
}

/**
 * The runs at a fixed rate against one server and the hello server: hello, the session checks, and
 * check_login during a login storm, whose closed-loop login load has a row of its own.
 */
export interface FixedRateGroup {
  /** Requests per second of every fixed-rate run. */
  rate: number;
  rows: FixedRateResult[];
}

/** A part of the run that did not happen, and why. */
export interface Skipped {
  skipped: string;
}

export interface StoreSection {
  store: 'SQLite' | 'PostgreSQL';
  version: string;
  small: RunGroup;
  fixedRate: FixedRateGroup;
  /** The raw argon2id rate with as many hashes in flight as connections first, then with the server's HASH_CONCURRENCY. */
  argon2: Argon2Result[];
  scale: ScaleGroup | Skipped;
  profiles: ProfiledOperation[];
}

/** The CPU profile of one operation's run (BENCH_PROFILE). */
export interface ProfiledOperation {
  operation: Operation;
  profile: ProfileSummary | Skipped;
}

export interface BenchResults {
  date: string;
  stores: (StoreSection | (Skipped & { store: StoreSection['store'] }))[];
  multiCore: MultiCoreGroup | Skipped;
}

export function isSkipped<T extends object>(value: T | Skipped): value is Skipped {
  return 'skipped' in value;
}

/** Returns an operation's throughput as a fraction of the hello run before it. */
export function helloRatio(row: OperationResult): number {
  return row.run.requestsPerSecond / row.hello.requestsPerSecond;
}

/** Returns the mean throughput of the hello runs of a group. */
export function meanHelloRate(group: RunGroup): number {
  const rates = [...new Set(group.rows.map((row) => row.hello))].map((hello) => hello.requestsPerSecond);
  return rates.reduce((sum, rate) => sum + rate, 0) / rates.length;
}

export function rowOf(group: RunGroup, operation: Operation): OperationResult | undefined {
  return group.rows.find((row) => row.operation === operation);
}

export function fixedRateRowOf(group: FixedRateGroup, operation: Operation | 'hello'): FixedRateResult | undefined {
  return group.rows.find((row) => row.operation === operation);
}

/** Returns why a run counts as failed (errors, non-2xx responses, no responses at all), or null. */
export function failureOf(run: MeasuredRun): string | null {
  const problems: string[] = [];
  if (run.requests === 0) problems.push('no responses');
  if (run.errors > 0) problems.push(`${run.errors} connection errors (${run.timeouts} timeouts)`);
  if (run.non2xx > 0) {
    const statuses = Object.entries(run.statuses)
      .filter(([status]) => !status.startsWith('2'))
      .map(([status, count]) => `${status}×${count}`);
    problems.push(`${run.non2xx} non-2xx (${statuses.join(' ')})`);
  }
  return problems.length > 0 ? problems.join(', ') : null;
}

/** Lists every failed run of the results, named by store, group and operation. */
export function failures(results: BenchResults): string[] {
  const found: string[] = [];
  const check = (where: string, group: RunGroup) => {
    for (const row of group.rows) {
      const failure = failureOf(row.run);
      if (failure) found.push(`${where}, ${row.operation}: ${failure}`);
      const helloFailure = failureOf(row.hello);
      if (helloFailure) found.push(`${where}, hello before ${row.operation}: ${helloFailure}`);
    }
  };

  for (const section of results.stores) {
    if (isSkipped(section)) continue;
    check(section.store, section.small);
    for (const row of section.fixedRate.rows) {
      const failure = failureOf(row.run);
      if (failure) found.push(`${section.store}, fixed-rate runs, ${row.operation}: ${failure}`);
    }
    if (!isSkipped(section.scale)) check(`${section.store} at ${section.scale.accounts} accounts`, section.scale);
  }
  if (!isSkipped(results.multiCore)) check('SQLite, several processes', results.multiCore);
  return found;
}
