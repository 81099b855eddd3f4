// The results of one `npm run bench`, as the report and the targets read them.
import type { Argon2Result } from './argon2-baseline.js';
import type { ProfileSummary } from './cpu-profile.js';
import type { MeasuredRun } from './load.js';
import type { Operation } from './scenarios.js';

export interface OperationResult {
  operation: Operation;
  run: MeasuredRun;
}

/** The hello baseline, measured before and after a group of runs; ratios use the mean of the two. */
export interface HelloBaseline {
  before: MeasuredRun;
  after: MeasuredRun;
}

/** Runs against one server, between two hello baselines. */
export interface RunGroup {
  hello: HelloBaseline;
  rows: OperationResult[];
  /** Resident set of the server before the first run, in bytes. */
  startRssBytes: number;
}

export interface ScaleGroup extends RunGroup {
  accounts: number;
  seedSeconds: number;
}

/** A part of the run that did not happen, and why. */
export interface Skipped {
  skipped: string;
}

export interface StoreSection {
  store: 'SQLite' | 'PostgreSQL';
  version: string;
  small: RunGroup;
  argon2: Argon2Result;
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
  multiCore: RunGroup | Skipped;
}

export function isSkipped<T extends object>(value: T | Skipped): value is Skipped {
  return 'skipped' in value;
}

export function helloRate(hello: HelloBaseline): number {
  return (hello.before.requestsPerSecond + hello.after.requestsPerSecond) / 2;
}

export function rowOf(group: RunGroup, operation: Operation): OperationResult | undefined {
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
    for (const [name, run] of [['hello before', group.hello.before], ['hello after', group.hello.after]] as const) {
      const failure = failureOf(run);
      if (failure) found.push(`${where}, ${name}: ${failure}`);
    }
    for (const row of group.rows) {
      const failure = failureOf(row.run);
      if (failure) found.push(`${where}, ${row.operation}: ${failure}`);
    }
  };

  for (const section of results.stores) {
    if (isSkipped(section)) continue;
    check(section.store, section.small);
    if (!isSkipped(section.scale)) check(`${section.store} at ${section.scale.accounts} accounts`, section.scale);
  }
  if (!isSkipped(results.multiCore)) check('SQLite, several processes', results.multiCore);
  return found;
}
