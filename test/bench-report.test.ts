import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { MeasuredRun } from '../bench/load.js';
import type { Machine } from '../bench/machine.js';
import { renderReport, type RunSettings } from '../bench/report.js';
import { type BenchResults, failures, type FixedRateResult, type OperationResult, type StoreSection } from '../bench/results.js';
import type { Operation } from '../bench/scenarios.js';
import { TARGETS } from '../bench/targets.js';

const MB = 1024 * 1024;

/** Builds a healthy measured run of 10 s, with the changes of the case. */
function run(changes: Partial<MeasuredRun> = {}): MeasuredRun {
  const requests = changes.requests ?? 10_000;
  return {
    requests,
    seconds: 10,
    requestsPerSecond: requests / 10,
    p50Ms: 1,
    p90Ms: 1.5,
    p99Ms: 2,
    p999Ms: 3,
    maxMs: 4,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    statuses: { '200': requests },
    scheduledRate: null,
    sendLag: null,
    server: { cpuSeconds: 2, peakRssBytes: 150 * MB, peakIsPerRun: true },
    serverCpuPerRequestUs: 200,
    clientCpuSeconds: 1,
    otherCpuSeconds: 0,
    startedIdle: true,
    ...changes,
  };
}

function fixedRun(changes: Partial<MeasuredRun> = {}): MeasuredRun {
  return run({ requests: 10_000, scheduledRate: 1000, sendLag: { p99Ms: 0.4, maxMs: 2 }, ...changes });
}

/** Builds a closed-loop row at 0.6 × hello with the p99 given. */
function closedRow(operation: Operation, p99Ms: number): OperationResult {
  return { operation, run: run({ requests: 60_000, p99Ms }), hello: run({ requests: 100_000, p99Ms: 4.5 }) };
}

interface SectionCase {
  closedP99Ms?: number;
  fixedP99Ms?: number;
  stormClosedP99Ms?: number;
  stormFixedP99Ms?: number;
  storm?: Partial<MeasuredRun>;
  check?: Partial<MeasuredRun>;
}

function section(options: SectionCase = {}): StoreSection {
  const closedP99Ms = options.closedP99Ms ?? 20;
  const fixedP99Ms = options.fixedP99Ms ?? 2;
  const fixedRows: FixedRateResult[] = [
    { operation: 'hello', run: fixedRun({ p99Ms: 0.8, serverCpuPerRequestUs: 31.4 }) },
    { operation: 'check_login', run: fixedRun({ p99Ms: fixedP99Ms, serverCpuPerRequestUs: 187.6, ...options.check }) },
    { operation: 'check_login_with_return_uuid', run: fixedRun({ p99Ms: fixedP99Ms }) },
    { operation: 'check_login_during_storm', run: fixedRun({ p99Ms: options.stormFixedP99Ms ?? 6 }) },
    { operation: 'login_storm', run: run({ requests: 300, p99Ms: 1600, ...options.storm }) },
  ];
  return {
    store: 'SQLite',
    version: '3.53.2',
    small: {
      rows: [
        closedRow('check_login', closedP99Ms),
        closedRow('check_login_with_return_uuid', closedP99Ms),
        closedRow('check_login_during_storm', options.stormClosedP99Ms ?? 40),
        closedRow('login_storm', 1500),
      ],
      startRssBytes: 140 * MB,
    },
    fixedRate: { rate: 1000, rows: fixedRows },
    argon2: [],
    scale: { skipped: 'BENCH_SCALE=0' },
    profiles: [],
  };
}

function target(prefix: string) {
  const found = TARGETS.find((candidate) => candidate.description.startsWith(prefix));
  assert.ok(found, `a target starts with ${prefix}`);
  return found;
}

const MACHINE: Machine = { cpuModel: 'Test CPU', cpus: 2, memoryGib: 8, kernel: 'Linux test', node: 'v20.0.0', sqlite: '3.53.2', packages: {} };

const SETTINGS: RunSettings = {
  sources: 'commit 0000000',
  connections: 50,
  latencyRate: 1000,
  durationSeconds: 10,
  warmupSeconds: 2,
  smallAccounts: 1000,
  scaleAccounts: 0,
  hash: { memoryKib: 19456, timeCost: 2, parallelism: 1, concurrency: 2, queueLimit: 64 },
  threadPoolSize: '4 (the default)',
  serverEnv: { LOG_LEVEL: 'warn' },
  loadBefore: '0.10',
  loadAfter: '0.20',
};

function report(store: StoreSection): string {
  const results: BenchResults = { date: '2026-01-01', stores: [store], multiCore: { skipped: 'not run' } };
  return renderReport(results, MACHINE, SETTINGS, 'not measured');
}

describe('latency targets', () => {
  test('judge p99 on the fixed-rate run', () => {
    const checkLogin = target('check_login by session');
    const withUuid = target('check_login_with_return_uuid by session');

    const fast = checkLogin.evaluate(section({ closedP99Ms: 20, fixedP99Ms: 2 }));
    assert.equal(fast.met, true);
    assert.match(fast.value, /p99 2\.00 ms at 1,000 req\/s \(hello's 0\.80 ms\)/);
    assert.match(fast.value, /closed loop: p99 20\.00 ms/);
    assert.equal(withUuid.evaluate(section({ closedP99Ms: 20, fixedP99Ms: 2 })).met, true);

    const slow = checkLogin.evaluate(section({ closedP99Ms: 3, fixedP99Ms: 6 }));
    assert.equal(slow.met, false);
    assert.equal(withUuid.evaluate(section({ closedP99Ms: 3, fixedP99Ms: 6 })).met, false);
  });

  test('judge the storm on its fixed-rate run', () => {
    const storm = target('check_login during a login storm');

    const calm = storm.evaluate(section({ stormClosedP99Ms: 40, stormFixedP99Ms: 6 }));
    assert.equal(calm.met, true);
    assert.match(calm.value, /^p99 6\.00 ms at 1,000 req\/s; closed loop: p99 40\.00 ms/);

    assert.equal(storm.evaluate(section({ stormClosedP99Ms: 5, stormFixedP99Ms: 12 })).met, false);
  });

  test('leave a run with a failed storm unjudged', () => {
    const outcome = target('check_login during a login storm').evaluate(section({ storm: { errors: 3, timeouts: 3 } }));
    assert.equal(outcome.met, null);
    assert.match(outcome.value, /fixed-rate run FAILED: 3 connection errors/);
  });

  test('keep the throughput ratio on the closed loop', () => {
    // The closed loop reached 0.6 × hello, while the fixed-rate runs send 1,000 requests per second whatever the server does.
    const outcome = target('check_login by session').evaluate(section());
    assert.match(outcome.value, /^0\.60 × hello/);
  });
});

describe('benchmark report', () => {
  test('shows server CPU per request in every table', () => {
    const text = report(section());
    const heads = text.split('\n').filter((line) => line.startsWith('| operation |'));
    assert.equal(heads.length, 2, 'the closed-loop table and the fixed-rate table');
    for (const head of heads) assert.ok(head.includes('| server CPU µs/request |'), head);

    const fixedHello = text.split('\n').find((line) => line.startsWith('| hello (bare Fastify) |'));
    assert.ok(fixedHello, 'the fixed-rate table has a hello row');
    assert.ok(fixedHello.includes('| 31 |'), fixedHello);
  });

  test('lists the fixed-rate runs with their percentiles', () => {
    const text = report(section());
    assert.ok(text.includes('#### SQLite: latency at a fixed rate of 1,000 requests per second'));

    const row = text.split('\n').find((line) => line.startsWith('| `check_login`, session | 1,000 |'));
    assert.ok(row, 'check_login at a fixed rate');
    assert.equal(row, '| `check_login`, session | 1,000 | 1,000 | 1.00 | 1.50 | 2.00 | 3.00 | 4.00 | 0.40 | 0 | 0 | 20% | 188 | 10% | 0% | 150 | ok |');

    const storm = text.split('\n').find((line) => line.startsWith('| `login`, the storm beside it | closed loop |'));
    assert.ok(storm, 'the storm beside the fixed-rate check is a closed loop');
  });

  test('notes a run that fell behind its schedule', () => {
    const text = report(section({ check: { requests: 8000, requestsPerSecond: 800 } }));
    const row = text.split('\n').find((line) => line.startsWith('| `check_login`, session | 1,000 |'));
    assert.ok(row?.endsWith('| ok; the responses fell behind the schedule |'), row);
  });

  test('counts failed fixed-rate runs as failures', () => {
    const failed = failures({ date: '2026-01-01', stores: [section({ check: { non2xx: 3, statuses: { '200': 9997, '503': 3 } } })], multiCore: { skipped: 'not run' } });
    assert.deepEqual(failed, ['SQLite, fixed-rate runs, check_login: 3 non-2xx (503×3)']);
  });
});
