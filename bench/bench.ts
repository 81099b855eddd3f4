// Load benchmark of sigma-accounts against a bare Fastify baseline, on SQLite and on PostgreSQL. It builds
// dist/ when a source file is newer, starts the hello server (bench/hello-server.ts) and, per store,
// `node dist/main.js serve` on a fresh store seeded by bench:seed. Then it runs every operation with
// autocannon and records requests per second, latency, errors, server CPU time and peak memory, and runs
// the session checks again at a fixed rate (bench/fixed-rate.ts) for their latency. It also
// measures the raw argon2id rate, a store of BENCH_SCALE accounts and sessions, and optionally a CPU
// profile. The results go into docs/benchmarks.md and docs/benchmarks.svg.
//
//   npm run bench                          (or: node --import tsx bench/bench.ts)
//   BENCH_DURATION=3 BENCH_SCALE=0 npm run bench      a quick run without the large store
//
// Settings, with their defaults:
//   BENCH_DURATION      seconds per measured run (10)
//   BENCH_WARMUP        seconds of load before each run that are not recorded (2)
//   BENCH_CONNECTIONS   concurrent connections (50)
//   BENCH_LATENCY_RATE  requests per second of the fixed-rate runs (1000)
//   BENCH_SCALE         accounts and sessions of the large store (1000000); 0 skips the large store
//   BENCH_PROFILE       1 to profile check_login with node --cpu-prof, or a list such as check_login,create (0)
//   BENCH_STORES        stores to measure (sqlite,postgres)
//   BENCH_POSTGRES_URL  the local server's maintenance database (postgres://postgres@127.0.0.1:5432/postgres)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../src/config.js';
import { type Argon2Result, measureArgon2Rate } from './argon2-baseline.js';
import { renderChart } from './chart.js';
import { topSelfTime } from './cpu-profile.js';
import { measureRuns } from './load.js';
import { describeMachine, loadAverage } from './machine.js';
import { waitUntilIdle } from './process-stats.js';
import { adminUrl, ensurePostgres, serverVersion } from './postgres-database.js';
import { renderReport, type RunSettings } from './report.js';
import { type BenchResults, failures, isSkipped, type MultiCoreGroup, type ProfiledOperation, type Skipped, type StoreSection } from './results.js';
import { runFixedRateGroup, runGroup, runStorm } from './runs.js';
import { type Operation, Scenarios } from './scenarios.js';
import { buildIfNeeded, REPO_ROOT, type ServerProcess, snapshotBuild, sourceState, startHello, startSigmaAccounts, stopServer } from './servers.js';
import { flagSetting, wholeNumberSetting } from './settings.js';
import { signUpOverHttp } from './sign-up-flow.js';
import { type BenchStore, freshStore, seedStore, type StoreKind } from './stores.js';
import { writeDocs } from './write-docs.js';

const SMALL_OPERATIONS: Operation[] = ['check_login', 'check_login_with_return_uuid', 'profile_session', 'profile_basic', 'login', 'create'];
const SESSION_OPERATIONS: Operation[] = ['check_login', 'check_login_with_return_uuid', 'profile_session'];

const DURATION_SECONDS = wholeNumberSetting('BENCH_DURATION', 10);
const WARMUP_SECONDS = wholeNumberSetting('BENCH_WARMUP', 2, 0);
const CONNECTIONS = wholeNumberSetting('BENCH_CONNECTIONS', 50);
const LATENCY_RATE = wholeNumberSetting('BENCH_LATENCY_RATE', 1000);
const SCALE_ACCOUNTS = wholeNumberSetting('BENCH_SCALE', 1_000_000, 0);
const PROFILED = profileSetting();
const STORES = storesSetting();
const SMALL_ACCOUNTS = 1000;
const POSTGRES_ADMIN_URL = adminUrl();

// The request throttles stay on, so that their store writes are part of what is measured, but their limits
// are the highest allowed, so that no login storm or burst of sign-ups gets 429.
const SERVER_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  THROTTLE_FAILURES_PER_IP: '1000000',
  THROTTLE_FAILURES_PER_ACCOUNT: '1000000',
  THROTTLE_CREATE_PER_IP: '1000000',
  THROTTLE_CREATE_PER_ADDRESS: '1000000',
  THROTTLE_RESET_PER_IP: '1000000',
  THROTTLE_RESET_PER_ADDRESS: '1000000',
  // The server and the argon2 baseline get the same thread pool, set or not.
  ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
};

/** Returns the operations to profile: none, check_login for BENCH_PROFILE=1, or those listed. */
function profileSetting(): Operation[] {
  const value = process.env.BENCH_PROFILE?.trim() ?? '';
  if (!value.includes(',') && !SMALL_OPERATIONS.includes(value as Operation)) {
    return flagSetting('BENCH_PROFILE') ? ['check_login'] : [];
  }

  const operations = value.split(',').map((operation) => operation.trim());
  const unknown = operations.find((operation) => !SMALL_OPERATIONS.includes(operation as Operation));
  if (unknown !== undefined) throw new Error(`BENCH_PROFILE lists "${unknown}"; use 1, or operations among ${SMALL_OPERATIONS.join(', ')}`);
  // In the order of the tables, which puts create last: the mail it queues is sent by the next server to
  // start on the store, and would show up in that server's profile.
  return SMALL_OPERATIONS.filter((operation) => operations.includes(operation));
}

function storesSetting(): StoreKind[] {
  const value = process.env.BENCH_STORES?.trim() || 'sqlite,postgres';
  const kinds = value.split(',').map((kind) => kind.trim());
  if (kinds.some((kind) => kind !== 'sqlite' && kind !== 'postgres')) {
    throw new Error(`BENCH_STORES must list sqlite, postgres or both, separated by a comma, not "${value}"`);
  }
  return kinds as StoreKind[];
}

/** The work folder of this run: stores, server logs and profiles. Deleted at the end unless a run failed. */
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigma-accounts-bench-'));
let logCounter = 0;
/** The CLI of the build under measurement, a copy of dist/ made at the start (snapshotBuild). */
let cli = '';
const logFile = (name: string) => path.join(workDir, `${String((logCounter += 1)).padStart(2, '0')}-${name}.log`);

/**
 * Measures the raw argon2id rate with as many verifications in flight as connections, and with the
 * server's HASH_CONCURRENCY when that differs, once the server is idle.
 */
async function measureRawArgon2(server: ServerProcess): Promise<Argon2Result[]> {
  const serverConcurrency = loadConfig({ ...SERVER_ENV }).hash.concurrency;
  const results: Argon2Result[] = [];
  for (const concurrency of new Set([CONNECTIONS, serverConcurrency])) {
    console.log(`  raw argon2id: ${concurrency} verifications in flight for ${DURATION_SECONDS} s`);
    await waitUntilIdle([server.pid]);
    results.push(await measureArgon2Rate(SERVER_ENV, DURATION_SECONDS, concurrency));
  }
  return results;
}

/** Starts a server on a store, runs `work` against it and stops it, also when `work` throws. */
async function withServer<T>(store: BenchStore, name: string, work: (server: ServerProcess) => Promise<T>, extra: { env?: Record<string, string>; nodeOptions?: string[] } = {}): Promise<T> {
  const server = await startSigmaAccounts({ ...SERVER_ENV, ...store.env, ...extra.env }, logFile(name), extra.nodeOptions);
  try {
    return await work(server);
  } finally {
    await stopServer(server);
  }
}

/** Profiles one operation in a server of its own, so that the profiler's overhead stays out of the tables. */
async function profileOperation(store: BenchStore, operation: Operation, scenariosFor: (url: string) => Scenarios): Promise<ProfiledOperation> {
  const profileDir = path.join(workDir, `profile-${store.kind}-${operation}`);
  console.log(`  profiling ${operation}: node --cpu-prof --cpu-prof-dir=${profileDir}`);
  const nodeOptions = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  await withServer(store, `${store.kind}-profile-${operation}`, (server) => measureRuns(server.pid, [scenariosFor(server.url).spec(operation)], WARMUP_SECONDS), { nodeOptions });

  const [file] = fs.existsSync(profileDir) ? fs.readdirSync(profileDir).filter((name) => name.endsWith('.cpuprofile')) : [];
  if (!file) return { operation, profile: { skipped: `the server wrote no .cpuprofile into ${profileDir}` } };
  // The server's own scripts run from the snapshot of the build and its packages from the checkout's
  // node_modules, so locations are shown relative to either, as dist/... or node_modules/...
  const buildRoot = `${path.dirname(path.dirname(cli))}/`;
  return { operation, profile: topSelfTime(path.join(profileDir, file), [buildRoot, REPO_ROOT], 15) };
}

async function measureScale(kind: StoreKind, hello: ServerProcess): Promise<StoreSection['scale']> {
  if (SCALE_ACCOUNTS === 0) return { skipped: 'BENCH_SCALE=0' };

  const store = await freshStore(kind, 'scale', workDir, POSTGRES_ADMIN_URL);
  try {
    console.log(`${kind}: seeding ${SCALE_ACCOUNTS.toLocaleString('en')} accounts and sessions`);
    const { manifest, seconds } = await seedStore(store, SCALE_ACCOUNTS, SERVER_ENV, cli);
    const group = await withServer(store, `${kind}-scale`, (server) =>
      runGroup({ server, hello, scenarios: new Scenarios(server.url, manifest, CONNECTIONS, DURATION_SECONDS), warmupSeconds: WARMUP_SECONDS }, SESSION_OPERATIONS),
    );
    return { ...group, accounts: SCALE_ACCOUNTS, seedSeconds: seconds };
  } finally {
    await store.remove();
  }
}

async function measureStore(kind: StoreKind, hello: ServerProcess): Promise<StoreSection> {
  const store = await freshStore(kind, 'small', workDir, POSTGRES_ADMIN_URL);
  try {
    console.log(`${kind}: seeding ${SMALL_ACCOUNTS} accounts and sessions`);
    const { manifest } = await seedStore(store, SMALL_ACCOUNTS, SERVER_ENV, cli);
    const scenariosFor = (url: string) => new Scenarios(url, manifest, CONNECTIONS, DURATION_SECONDS);

    const { small, fixedRate, argon2 } = await withServer(store, `${kind}-small`, async (server) => {
      console.log(`${kind}: signing up one account over HTTP (create, mail, confirm, login)`);
      await signUpOverHttp(server.url, store.dataDir, `http-flow-${process.pid}@example.com`, `flow check ${manifest.sessionKey.slice(0, 16)}`);

      const context = { server, hello, scenarios: scenariosFor(server.url), warmupSeconds: WARMUP_SECONDS };
      const group = await runGroup(context, SMALL_OPERATIONS);
      // While the server is idle, between its runs.
      const raw = await measureRawArgon2(server);
      group.rows.push(...(await runStorm(context)));
      return { small: group, fixedRate: await runFixedRateGroup(context, LATENCY_RATE), argon2: raw };
    });

    const profiles: ProfiledOperation[] = [];
    for (const operation of PROFILED) profiles.push(await profileOperation(store, operation, scenariosFor));
    const version = kind === 'sqlite' ? describeMachine().sqlite : await serverVersion(POSTGRES_ADMIN_URL);
    return { store: kind === 'sqlite' ? 'SQLite' : 'PostgreSQL', version, small, fixedRate, argon2, scale: await measureScale(kind, hello), profiles };
  } finally {
    await store.remove();
  }
}

/** Runs the session checks with WORKERS set to the number of CPUs, when the server has that setting. */
async function measureMultiCore(hello: ServerProcess): Promise<MultiCoreGroup | Skipped> {
  const config = fs.readFileSync(path.join(REPO_ROOT, 'src', 'config.ts'), 'utf8');
  if (!config.includes("'WORKERS'")) return { skipped: 'src/config.ts has no WORKERS setting, so the server runs as one process' };

  const workers = String(os.availableParallelism());
  const store = await freshStore('sqlite', 'workers', workDir, POSTGRES_ADMIN_URL);
  try {
    const { manifest } = await seedStore(store, SMALL_ACCOUNTS, SERVER_ENV, cli);
    console.log(`sqlite with WORKERS=${workers}`);
    const scenarios = (server: ServerProcess) => new Scenarios(server.url, manifest, CONNECTIONS, DURATION_SECONDS);
    const run = (server: ServerProcess) => runGroup({ server, hello, scenarios: scenarios(server), warmupSeconds: WARMUP_SECONDS }, SESSION_OPERATIONS);
    const group = await withServer(store, 'sqlite-workers', run, { env: { WORKERS: workers } });
    return { ...group, workers: Number(workers) };
  } finally {
    await store.remove();
  }
}

async function main(): Promise<number> {
  buildIfNeeded();
  const sources = sourceState();
  cli = snapshotBuild(workDir);
  console.log(`measuring the build of ${sources}, copied to ${cli}`);
  const loadBefore = loadAverage();
  const hello = await startHello(logFile('hello'));
  const results: BenchResults = { date: new Date().toISOString().slice(0, 10), stores: [], multiCore: { skipped: 'not run' } };
  let postgresVersion = 'not measured';

  try {
    for (const kind of STORES) {
      if (kind === 'postgres') {
        const unreachable = await ensurePostgres(POSTGRES_ADMIN_URL);
        if (unreachable) {
          results.stores.push({ store: 'PostgreSQL', skipped: `PostgreSQL at ${POSTGRES_ADMIN_URL} is unreachable: ${unreachable}` });
          continue;
        }
        postgresVersion = await serverVersion(POSTGRES_ADMIN_URL);
      }
      results.stores.push(await measureStore(kind, hello));
      if (kind === 'sqlite') {
        results.multiCore = await measureMultiCore(hello);
        if (isSkipped(results.multiCore)) console.log(`several processes: skipped, because ${results.multiCore.skipped}`);
      }
    }
  } finally {
    await stopServer(hello);
  }

  const { hash } = loadConfig({ ...SERVER_ENV });
  const settings: RunSettings = {
    sources,
    connections: CONNECTIONS,
    latencyRate: LATENCY_RATE,
    durationSeconds: DURATION_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    smallAccounts: SMALL_ACCOUNTS,
    scaleAccounts: SCALE_ACCOUNTS,
    hash,
    threadPoolSize: process.env.UV_THREADPOOL_SIZE ? `${process.env.UV_THREADPOOL_SIZE} (UV_THREADPOOL_SIZE)` : '4 (the default)',
    serverEnv: SERVER_ENV,
    loadBefore,
    loadAfter: loadAverage(),
  };
  const section = renderReport(results, describeMachine(), settings, postgresVersion);
  writeDocs(section, renderChart(results));
  console.log(`\n${section}\n\nwritten to docs/benchmarks.md and docs/benchmarks.svg`);

  const failed = [...failures(results), ...results.stores.flatMap((store) => (isSkipped(store) ? [`${store.store}: ${store.skipped}`] : []))];
  if (failed.length > 0) {
    console.error(`\nFAILED runs (logs kept in ${workDir}):\n${failed.map((line) => `  ${line}`).join('\n')}`);
    return 1;
  }
  fs.rmSync(workDir, { recursive: true, force: true });
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}\nlogs and stores kept in ${workDir}`);
  return 1;
});
