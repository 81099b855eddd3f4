// Turns the results of `npm run bench` into the Markdown section of docs/benchmarks.md.
import type { MeasuredRun } from './load.js';
import type { Machine } from './machine.js';
import type { Argon2Result } from './argon2-baseline.js';
import { failureOf, helloRatio, isSkipped, type BenchResults, type FixedRateGroup, type OperationResult, type ProfiledOperation, type RunGroup, type StoreSection } from './results.js';
import { OPERATION_LABELS } from './scenarios.js';
import { TARGETS } from './targets.js';

/** Settings of the run, as the report states them. */
export interface RunSettings {
  /** The commit and state of the sources that the measured build came from. */
  sources: string;
  connections: number;
  /** Requests per second of the fixed-rate runs. */
  latencyRate: number;
  durationSeconds: number;
  warmupSeconds: number;
  smallAccounts: number;
  scaleAccounts: number;
  hash: { memoryKib: number; timeCost: number; parallelism: number; concurrency: number; queueLimit: number };
  threadPoolSize: string;
  serverEnv: Record<string, string>;
  loadBefore: string;
  loadAfter: string;
}

const MB = 1024 * 1024;

function number(value: number, digits = 0): string {
  return value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** CPU time over a run as a percentage of one core: 200% is both cores of a two-CPU machine. */
function cpuPercent(cpuSeconds: number, seconds: number): string {
  return `${number((100 * cpuSeconds) / seconds)}%`;
}

function rate(requestsPerSecond: number): string {
  return number(requestsPerSecond, requestsPerSecond < 100 ? 1 : 0);
}

/** Server CPU time per response in microseconds, or "n/a" for a run without responses. */
function cpuPerRequest(microseconds: number): string {
  return Number.isFinite(microseconds) ? number(microseconds) : 'n/a';
}

function peakRss(run: MeasuredRun): string {
  return `${number(run.server.peakRssBytes / MB)}${run.server.peakIsPerRun ? '' : '*'}`;
}

/** Returns the notes of the result column: ok or why the run failed, and whether it started busy. */
function runNotes(run: MeasuredRun): string[] {
  const failure = failureOf(run);
  const notes = [failure ? `**FAILED**: ${failure}` : 'ok'];
  if (!run.startedIdle) notes.push('the server was still busy with the warm-up when the run started');
  return notes;
}

/** Returns the cells from errors to the result column, which the closed-loop and fixed-rate tables share. */
function outcomeCells(run: MeasuredRun, notes: string[]): string[] {
  return [
    String(run.errors),
    String(run.non2xx),
    cpuPercent(run.server.cpuSeconds, run.seconds),
    cpuPerRequest(run.serverCpuPerRequestUs),
    cpuPercent(run.clientCpuSeconds, run.seconds),
    cpuPercent(run.otherCpuSeconds, run.seconds),
    peakRss(run),
    notes.join('; '),
  ];
}

function rowCells(row: OperationResult): string {
  const { run, hello } = row;
  const notes = runNotes(run);
  const helloFailure = failureOf(hello);
  if (helloFailure) notes.splice(1, 0, `**hello run FAILED**: ${helloFailure}`);

  return [
    rate(run.requestsPerSecond),
    rate(hello.requestsPerSecond),
    helloRatio(row).toFixed(3),
    run.p50Ms.toFixed(2),
    run.p99Ms.toFixed(2),
    ...outcomeCells(run, notes),
  ].join(' | ');
}

const TABLE_HEAD = [
  '| operation | req/s | hello req/s | × hello | p50 ms | p99 ms | errors | non-2xx | server CPU | server CPU µs/request | client CPU | other CPU | server peak RSS MB | result |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];

function groupTable(group: RunGroup, extraRows: string[] = []): string {
  const lines = [
    `The server's resident set before the first run was ${number(group.startRssBytes / MB)} MB. Other processes used up to ${number(100 * foreignShare(group))}% of a core during this table's hello runs.`,
    '',
    ...TABLE_HEAD,
    ...group.rows.map((row) => `| ${OPERATION_LABELS[row.operation]} | ${rowCells(row)} |`),
    ...extraRows,
  ];
  return lines.join('\n');
}

function argon2Row(result: Argon2Result): string {
  const { rate, usage, otherCpuSeconds } = result;
  const cells = [
    number(rate.perSecond, 1),
    '',
    '',
    rate.p50Ms.toFixed(2),
    rate.p99Ms.toFixed(2),
    '0',
    '',
    cpuPercent(usage.cpuSeconds, rate.seconds),
    cpuPerRequest(rate.verifications > 0 ? (usage.cpuSeconds * 1e6) / rate.verifications : Number.NaN),
    '',
    cpuPercent(otherCpuSeconds, rate.seconds),
    number(usage.peakRssBytes / MB),
    'ok',
  ];
  return `| raw argon2id verifications, \`argon2\` package in its own process, ${rate.concurrency} in flight | ${cells.join(' | ')} |`;
}

/** An achieved rate below this share of the scheduled one means that the responses fell behind the schedule. */
const BEHIND_SCHEDULE_SHARE = 0.95;

const FIXED_RATE_HEAD = [
  '| operation | scheduled req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | send lag p99 ms | errors | non-2xx | server CPU | server CPU µs/request | client CPU | other CPU | server peak RSS MB | result |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];

function fixedRateCells(run: MeasuredRun): string {
  const notes = runNotes(run);
  if (run.scheduledRate !== null && run.requestsPerSecond < BEHIND_SCHEDULE_SHARE * run.scheduledRate) {
    notes.push('the responses fell behind the schedule');
  }

  return [
    run.scheduledRate === null ? 'closed loop' : number(run.scheduledRate),
    rate(run.requestsPerSecond),
    run.p50Ms.toFixed(2),
    run.p90Ms.toFixed(2),
    run.p99Ms.toFixed(2),
    run.p999Ms.toFixed(2),
    run.maxMs.toFixed(2),
    run.sendLag ? run.sendLag.p99Ms.toFixed(2) : '',
    ...outcomeCells(run, notes),
  ].join(' | ');
}

function fixedRateTable(store: string, group: FixedRateGroup): string {
  const lines = [
    `#### ${store}: latency at a fixed rate of ${number(group.rate)} requests per second`,
    '',
    ...FIXED_RATE_HEAD,
    ...group.rows.map((row) => `| ${OPERATION_LABELS[row.operation]} | ${fixedRateCells(row.run)} |`),
  ];
  return lines.join('\n');
}

function targetsTable(results: BenchResults): string {
  const sections = new Map(results.stores.filter((section): section is StoreSection => !isSkipped(section)).map((section) => [section.store, section]));
  const sqlite = sections.get('SQLite');
  const postgres = sections.get('PostgreSQL');
  const verdict = (met: boolean | null) => {
    if (met === null) return 'not measured';
    return met ? 'met' : '**not met**';
  };

  const lines = ['| target (SQLite, one process) | SQLite | met | PostgreSQL, for information |', '| --- | --- | --- | --- |'];
  for (const target of TARGETS) {
    const onSqlite = sqlite ? target.evaluate(sqlite) : { value: 'not measured', met: null };
    const onPostgres = postgres ? target.evaluate(postgres) : { value: 'not measured', met: null };
    const postgresCell = onPostgres.met === null ? onPostgres.value : `${onPostgres.value} (${onPostgres.met ? 'met' : 'not met'})`;
    lines.push(`| ${target.description} | ${onSqlite.value} | ${verdict(onSqlite.met)} | ${postgresCell} |`);
  }
  return lines.join('\n');
}

const PROFILE_SOURCES = 8;

function profileTables(store: string, profiled: ProfiledOperation): string[] {
  const { operation, profile } = profiled;
  const heading = `#### \`${operation}\`, ${store}`;
  if (isSkipped(profile)) return [heading, '', `No profile: ${profile.skipped}.`, ''];

  const idleShare = (100 * profile.idleMs) / (profile.idleMs + profile.busyMs);
  const sources = profile.sources.slice(0, PROFILE_SOURCES).map((entry) => `${entry.source} ${entry.percent.toFixed(1)}%`);
  return [
    heading,
    '',
    `${number(profile.busyMs)} ms of sampled CPU time in the server's main thread; the thread was idle ${number(idleShare)}% of the server's`,
    `lifetime, which includes its start and the pauses between runs. Self time by source: ${sources.join(', ')}.`,
    '',
    '| function | where | self ms | % of busy |',
    '| --- | --- | ---: | ---: |',
    ...profile.top.map((entry) => `| \`${entry.name}\` | ${entry.location ? `\`${entry.location}\`` : ''} | ${number(entry.selfMs)} | ${entry.percent.toFixed(1)} |`),
    '',
  ];
}

/** A share of one core above this, used by other processes during the hello runs, marks a shared machine. */
const SHARED_MACHINE_SHARE = 0.2;

/** Returns the largest share of a core that other processes used during the group's hello runs. */
function foreignShare(group: RunGroup): number {
  return Math.max(0, ...group.rows.map((row) => row.hello.otherCpuSeconds / row.hello.seconds));
}

/** Names the tables whose hello runs shared the machine with other work, which distorts their ratios. */
function sharedMachineWarning(results: BenchResults): string {
  const groups: [string, RunGroup][] = [];
  for (const section of results.stores) {
    if (isSkipped(section)) continue;
    groups.push([section.store, section.small]);
    if (!isSkipped(section.scale)) groups.push([`${section.store} at ${number(section.scale.accounts)} accounts`, section.scale]);
  }
  if (!isSkipped(results.multiCore)) groups.push(['several server processes', results.multiCore]);

  const shared = groups.filter(([, group]) => foreignShare(group) > SHARED_MACHINE_SHARE).map(([name]) => name);
  if (shared.length === 0) return `Other processes used at most ${number(100 * SHARED_MACHINE_SHARE)}% of a core during every hello run.`;
  return `**Other work shared the machine during the hello runs of these tables, so their ratios to hello are distorted: ${shared.join('; ')}.**`;
}

/** Returns the generated part of the load section of docs/benchmarks.md. */
export function renderReport(results: BenchResults, machine: Machine, settings: RunSettings, postgresVersion: string): string {
  const packages = Object.entries(machine.packages).map(([name, version]) => `${name} ${version}`).join(', ');
  const serverEnv = Object.entries(settings.serverEnv).map(([name, value]) => `\`${name}=${value}\``).join(', ');
  const lines = [
    `Measured on ${results.date} by \`npm run bench\`. Machine: ${machine.cpuModel}, ${machine.cpus} logical CPUs, ${machine.memoryGib.toFixed(1)} GiB RAM,`,
    `${machine.kernel}. Node.js ${machine.node}, SQLite ${machine.sqlite}, PostgreSQL ${postgresVersion}; ${packages}.`,
    `The server is \`dist/\` built from ${settings.sources}, copied before the first run.`,
    `The 1-minute load average was ${settings.loadBefore} before the runs and ${settings.loadAfter} after them. ${sharedMachineWarning(results)}`,
    '',
    `Each run has ${settings.connections} connections and lasts ${settings.durationSeconds} s, after ${settings.warmupSeconds} s of warm-up that is not counted.`,
    `argon2id runs with m=${settings.hash.memoryKib} KiB, t=${settings.hash.timeCost}, p=${settings.hash.parallelism} (the server's defaults) on a libuv thread pool of ${settings.threadPoolSize}.`,
    `The server hashes at most ${settings.hash.concurrency} passwords at once (HASH_CONCURRENCY) and queues at most ${settings.hash.queueLimit} more (HASH_QUEUE_LIMIT).`,
    `The small stores have ${number(settings.smallAccounts)} accounts with one session each. Server environment besides HOST, PORT, PUBLIC_URL,`,
    `DATA_DIR and DATABASE_URL: ${serverEnv}.`,
    '',
    `Each store's fixed-rate runs send ${number(settings.latencyRate)} requests per second (BENCH_LATENCY_RATE) on a schedule for ${settings.durationSeconds} s, after`,
    `${settings.warmupSeconds} s of warm-up at that rate, with \`bench/fixed-rate.ts\`. Latency runs from each request's scheduled send time to the end`,
    'of its response. "send lag p99" is how late the client itself sent the 99th percentile of its requests, which the',
    'latencies include. The login storm beside `check_login` is the closed loop of the first table.',
    '',
    `CPU columns are CPU time over the run as a percentage of one core (the machine has ${machine.cpus} cores, so ${machine.cpus * 100}% is all of it).`,
    '"server" is the measured server process, or the argon2 process in its rows. "client" is the benchmark process that runs',
    'autocannon. "other" is every other process of the machine: PostgreSQL\'s backends in the PostgreSQL runs, and any work that',
    'shared the machine.',
    '"server CPU µs/request" is the server\'s CPU time over the run divided by the responses it sent. In the rows of a',
    'login storm, server CPU, CPU per request and peak RSS cover both loads together.',
    'Peak RSS is VmHWM, reset at the start of each run. A `*` marks a value that could not be reset and so covers the process lifetime.',
    '',
    '![Requests per second of each operation and of the hello baseline, SQLite and PostgreSQL](benchmarks.svg)',
    '',
    '### Targets',
    '',
    targetsTable(results),
    '',
  ];

  for (const section of results.stores) {
    if (isSkipped(section)) {
      lines.push(`### ${section.store}`, '', `Not measured: ${section.skipped}.`, '');
      continue;
    }

    lines.push(`### ${section.store} ${section.version}, ${number(settings.smallAccounts)} accounts and sessions`, '');
    lines.push(groupTable(section.small, section.argon2.map(argon2Row)), '');
    lines.push(fixedRateTable(section.store, section.fixedRate), '');
    if (isSkipped(section.scale)) {
      lines.push(`Scale run not measured: ${section.scale.skipped}.`, '');
    } else {
      lines.push(`#### ${section.store} at ${number(section.scale.accounts)} accounts and sessions (seeded in ${number(section.scale.seedSeconds)} s)`, '');
      lines.push(groupTable(section.scale), '');
    }
  }

  lines.push('### Several server processes', '');
  if (isSkipped(results.multiCore)) {
    lines.push(`Not measured: ${results.multiCore.skipped}.`, '');
  } else {
    lines.push(`SQLite, ${number(settings.smallAccounts)} accounts and sessions, \`WORKERS=${results.multiCore.workers}\`: the resident set is that of all the server's processes.`, '');
    lines.push(groupTable(results.multiCore), '');
  }

  const profiles = results.stores.flatMap((section) => (isSkipped(section) ? [] : section.profiles.flatMap((profiled) => profileTables(section.store, profiled))));
  if (profiles.length > 0) {
    const intro = 'The 15 functions with the most self time, from `node --cpu-prof`, each in a server of its own that gets the same load as in the tables above.';
    lines.push('### CPU profiles (BENCH_PROFILE)', '', intro, '', ...profiles);
  }
  return lines.join('\n').trimEnd();
}
