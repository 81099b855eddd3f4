// The performance targets, judged per store from the runs of one `npm run bench`. Throughput targets are
// ratios to the hello run just before each operation, so that they depend neither on the machine's speed
// nor on slow changes in its load. Latency targets are judged on the fixed-rate runs: in the closed loop,
// with every connection busy, a p99 measures mostly the queue in front of the server.
import { type FixedRateResult, failureOf, fixedRateRowOf, helloRatio, isSkipped, type OperationResult, rowOf, type RunGroup, type StoreSection } from './results.js';
import type { Operation } from './scenarios.js';

export interface TargetOutcome {
  /** The measured value, formatted for the report. */
  value: string;
  /** Null when the runs that the target needs did not happen or failed. */
  met: boolean | null;
}

export interface Target {
  description: string;
  evaluate(section: StoreSection): TargetOutcome;
}

const MB = 1024 * 1024;

/** Judges one operation's row, or returns why it cannot be judged. */
function withRow(group: RunGroup, operation: Operation, judge: (row: OperationResult) => TargetOutcome): TargetOutcome {
  const row = rowOf(group, operation);
  if (!row) return { value: 'not measured', met: null };

  const failure = failureOf(row.run) ?? failureOf(row.hello);
  if (failure) return { value: `run FAILED: ${failure}`, met: null };
  return judge(row);
}

/**
 * Judges one operation's fixed-rate run, or returns why it cannot be judged. A failed storm beside the
 * run, or a failed hello run at the same rate, makes the run unfit for judging too.
 */
function withFixedRateRow(section: StoreSection, operation: Operation, judge: (row: FixedRateResult, hello: FixedRateResult | undefined) => TargetOutcome): TargetOutcome {
  const group = section.fixedRate;
  const row = fixedRateRowOf(group, operation);
  if (!row) return { value: 'not measured at a fixed rate', met: null };

  const hello = fixedRateRowOf(group, 'hello');
  const storm = operation === 'check_login_during_storm' ? fixedRateRowOf(group, 'login_storm') : undefined;
  const failure = failureOf(row.run) ?? (storm && failureOf(storm.run)) ?? (hello && failureOf(hello.run));
  if (failure) return { value: `fixed-rate run FAILED: ${failure}`, met: null };
  return judge(row, hello);
}

/** Describes a closed-loop p99 beside a fixed-rate one, for information. */
function closedLoopP99(section: StoreSection, operation: Operation): string {
  const row = rowOf(section.small, operation);
  if (!row) return 'closed loop not measured';
  return `closed loop: p99 ${row.run.p99Ms.toFixed(2)} ms (hello's ${row.hello.p99Ms.toFixed(2)} ms)`;
}

function ratioAndP99(operation: Operation, minRatio: number, maxP99Ms: number): Target {
  return {
    description: `${operation} by session: ≥ ${minRatio} × hello (closed loop) and p99 < ${maxP99Ms} ms (fixed rate)`,
    evaluate: (section) =>
      withRow(section.small, operation, (row) =>
        withFixedRateRow(section, operation, (fixed, hello) => {
          const measured = helloRatio(row);
          const helloP99 = hello ? ` (hello's ${hello.run.p99Ms.toFixed(2)} ms)` : '';
          const p99 = `p99 ${fixed.run.p99Ms.toFixed(2)} ms at ${section.fixedRate.rate.toLocaleString('en')} req/s${helloP99}`;
          const value = `${measured.toFixed(2)} × hello, ${p99}; ${closedLoopP99(section, operation)}`;
          return { value, met: measured >= minRatio && fixed.run.p99Ms < maxP99Ms };
        }),
      ),
  };
}

function ratioOnly(operation: Operation, description: string, minRatio: number): Target {
  return {
    description: `${description}: ≥ ${minRatio} × hello`,
    evaluate: (section) =>
      withRow(section.small, operation, (row) => {
        const measured = helloRatio(row);
        return { value: `${measured.toFixed(3)} × hello`, met: measured >= minRatio };
      }),
  };
}

/** Checks that an operation on the large store keeps its ratio to hello within 10% of the small store's. */
function scaleThroughput(operation: Operation): Target {
  return {
    description: `${operation} at the scale store: ≥ 0.9 × its ratio to hello on the small store`,
    evaluate: (section) => {
      if (isSkipped(section.scale)) return { value: `not measured: ${section.scale.skipped}`, met: null };
      const scale = section.scale;
      return withRow(scale, operation, (large) =>
        withRow(section.small, operation, (small) => {
          const change = helloRatio(large) / helloRatio(small) - 1;
          const sign = change >= 0 ? '+' : '−';
          const detail = `${helloRatio(large).toFixed(2)} against ${helloRatio(small).toFixed(2)} × hello`;
          return { value: `${sign}${Math.abs(change * 100).toFixed(1)}% (${detail})`, met: change >= -0.1 };
        }),
      );
    },
  };
}

export const TARGETS: Target[] = [
  ratioAndP99('check_login', 0.5, 5),
  ratioAndP99('check_login_with_return_uuid', 0.5, 5),
  ratioOnly('profile_session', 'GET profile by session', 0.4),
  ratioOnly('profile_basic', 'GET profile by Basic, after the first request', 0.4),
  {
    description: 'login: ≥ 0.95 × the raw argon2id rate',
    evaluate: (section) =>
      withRow(section.small, 'login', (row) => {
        const [raw] = section.argon2;
        if (!raw) return { value: 'raw argon2id rate not measured', met: null };
        const measured = row.run.requestsPerSecond / raw.rate.perSecond;
        const detail = `${row.run.requestsPerSecond.toFixed(1)} against ${raw.rate.perSecond.toFixed(1)} per second`;
        return { value: `${measured.toFixed(2)} × raw argon2id (${detail})`, met: measured >= 0.95 };
      }),
  },
  {
    description: 'check_login during a login storm: p99 < 10 ms (fixed rate)',
    evaluate: (section) =>
      withFixedRateRow(section, 'check_login_during_storm', (row) => {
        const value = `p99 ${row.run.p99Ms.toFixed(2)} ms at ${section.fixedRate.rate.toLocaleString('en')} req/s; ${closedLoopP99(section, 'check_login_during_storm')}`;
        return { value, met: row.run.p99Ms < 10 };
      }),
  },
  ratioOnly('create', 'create', 0.1),
  scaleThroughput('check_login'),
  scaleThroughput('check_login_with_return_uuid'),
  {
    description: 'peak RSS at the scale store < 200 MB',
    evaluate: (section) => {
      if (isSkipped(section.scale)) return { value: `not measured: ${section.scale.skipped}`, met: null };
      if (section.scale.rows.length === 0) return { value: 'not measured', met: null };
      const peak = Math.max(...section.scale.rows.map((row) => row.run.server.peakRssBytes));
      return { value: `${(peak / MB).toFixed(0)} MB`, met: peak < 200 * MB };
    },
  },
];
