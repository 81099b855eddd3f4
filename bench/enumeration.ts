// Measures whether response times tell registered addresses from unregistered ones. It starts the built
// server (`node dist/main.js serve`, rebuilt first when the sources are newer) on a fresh SQLite store and
// makes active, pending and disabled accounts. Then it times `create`, `login` with a wrong password, HTTP
// Basic with a wrong password and `request_password_reset` for each kind of address and for unknown ones.
// Requests go one at a time, in a shuffled order that mixes the kinds, so that a change in machine load
// affects every kind alike. The table goes into docs/benchmarks.md.
//
//   node --import tsx bench/enumeration.ts        (or: npm run bench:enumeration)
//
// BENCH_SAMPLES sets the timed requests per action and kind of address (default 400).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { signUp } from '../test/helpers/accounts.js';
import { action } from '../test/helpers/client.js';
import { freePort } from '../test/helpers/ports.js';
import { SmtpSink } from '../test/helpers/smtp-sink.js';

const run = promisify(execFile);

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(REPO_ROOT, 'dist', 'main.js');
const DOC = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
const BEGIN_MARK = '<!-- enumeration:begin -->';
const END_MARK = '<!-- enumeration:end -->';

const SAMPLES = positiveSetting('BENCH_SAMPLES', 400);
const BOOTSTRAP_RESAMPLES = 2000;
// Accounts per kind. Probes cycle through them, because only `create` of an unknown address uses one up.
const POOL_SIZE = 20;
const WARMUP_PER_KIND = 10;
const PASSWORD = 'a long and unusual passphrase';
const WRONG_PASSWORD = 'not the password of anyone here';

// Every email is sent (no per-address mail throttle), as for the first probe of an address, so that the
// mail work of each kind is timed. The request throttles never return 429, so that what is timed is the
// work behind them.
const SERVER_SETTINGS = {
  MAIL_THROTTLE_SECONDS: '0',
  THROTTLE_FAILURES_PER_IP: '1000000',
  THROTTLE_FAILURES_PER_ACCOUNT: '1000000',
  THROTTLE_CREATE_PER_IP: '1000000',
  THROTTLE_CREATE_PER_ADDRESS: '1000000',
  THROTTLE_RESET_PER_IP: '1000000',
  THROTTLE_RESET_PER_ADDRESS: '1000000',
  LOG_LEVEL: 'warn',
  MAIL_POLL_MS: '50',
};

const KINDS = ['active', 'pending', 'disabled', 'unknown'] as const;
type Kind = (typeof KINDS)[number];

const ACTIONS = ['create', 'login', 'basic', 'request_password_reset'] as const;
type Probe = (typeof ACTIONS)[number];

const ACTION_LABELS: Record<Probe, string> = {
  create: '`create`',
  login: '`login`, wrong password',
  basic: 'Basic, wrong password',
  request_password_reset: '`request_password_reset`',
};

interface Cell {
  milliseconds: number[];
  statuses: Map<number, number>;
}

function positiveSetting(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`${name} must be a whole number above 0, not "${value}"`);
  return Number(value);
}

/** A small seeded generator (mulberry32), so that every run shuffles the probes in the same order. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other] as T, items[index] as T];
  }
  return items;
}

let addressCounter = 0;
function freshAddress(kind: string): string {
  addressCounter += 1;
  return `bench.${kind}.${process.pid}.${addressCounter}@example.com`;
}

async function startServer(dataDir: string, smtpUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, SMTP_URL: smtpUrl, ...SERVER_SETTINGS };
  const child = spawn(process.execPath, [CLI, 'serve'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });

  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} before it was ready`);
    const ready = await fetch(`${url}/health/ready`).then((response) => response.status === 200, () => false);
    if (ready) return { url, child };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`the server at ${url} was not ready within 20 s`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Makes POOL_SIZE accounts of each registered kind; disabled ones through the operator command line. */
async function makeAccounts(url: string, smtp: SmtpSink, dataDir: string): Promise<Record<Kind, string[]>> {
  const pools: Record<Kind, string[]> = { active: [], pending: [], disabled: [], unknown: [] };

  for (let index = 0; index < POOL_SIZE; index += 1) {
    for (const kind of ['active', 'disabled'] as const) {
      const email = freshAddress(kind);
      const { token } = await signUp(url, smtp, email);
      const confirmed = await action(url, 'confirm', { body: { token, password: PASSWORD } });
      if (confirmed.status !== 200) throw new Error(`confirm failed: ${confirmed.status} ${confirmed.text}`);
      pools[kind].push(email);
    }

    const pending = freshAddress('pending');
    await signUp(url, smtp, pending);
    pools.pending.push(pending);
    pools.unknown.push(freshAddress('unknown'));
  }

  const cliEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  for (const email of pools.disabled) {
    await run(process.execPath, [CLI, 'accounts', 'disable', email], { cwd: REPO_ROOT, env: cliEnv });
  }
  return pools;
}

function basicHeader(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
}

/** Sends one probe and returns its status and the time to the end of the response body, in milliseconds. */
async function probe(url: string, kind: Kind, name: Probe, email: string): Promise<{ status: number; milliseconds: number }> {
  const target = name === 'basic' ? `${url}/api/2.0/profile/` : `${url}/api/2.0/accounts/action/?do=${name}`;
  const address = name === 'create' && kind === 'unknown' ? freshAddress('new') : email;

  const init: RequestInit =
    name === 'basic'
      ? { method: 'GET', headers: { Authorization: basicHeader(address, WRONG_PASSWORD) } }
      : {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(name === 'login' ? { username: address, password: WRONG_PASSWORD } : { email: address }),
        };

  const started = performance.now();
  const response = await fetch(target, init);
  await response.arrayBuffer();
  return { status: response.status, milliseconds: performance.now() - started };
}

async function measure(url: string, pools: Record<Kind, string[]>, name: Probe, random: () => number): Promise<Map<Kind, Cell>> {
  const cells = new Map<Kind, Cell>(KINDS.map((kind) => [kind, { milliseconds: [], statuses: new Map() }]));
  const emailFor = (kind: Kind, index: number) => pools[kind][index % POOL_SIZE] ?? '';

  for (const kind of KINDS) {
    for (let index = 0; index < WARMUP_PER_KIND; index += 1) await probe(url, kind, name, emailFor(kind, index));
  }

  const order = shuffle(
    KINDS.flatMap((kind) => Array.from({ length: SAMPLES }, (_, index) => ({ kind, index }))),
    random,
  );
  for (const { kind, index } of order) {
    const result = await probe(url, kind, name, emailFor(kind, index));
    const cell = cells.get(kind);
    if (!cell) continue;
    cell.milliseconds.push(result.milliseconds);
    cell.statuses.set(result.status, (cell.statuses.get(result.status) ?? 0) + 1);
  }
  return cells;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], rank: number): number {
  return sorted[Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function median(values: number[]): number {
  return percentile([...values].sort((left, right) => left - right), 50);
}

/**
 * Returns the 95% bootstrap interval of median(sample) - median(reference): the range that the difference of
 * medians falls in for 95% of resamples. An interval that contains 0 is a difference this run cannot tell
 * from noise.
 */
function medianDifferenceInterval(sample: number[], reference: number[], random: () => number): [number, number] {
  const resample = (values: number[]) => Array.from({ length: values.length }, () => values[Math.floor(random() * values.length)] ?? 0);
  const differences = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => median(resample(sample)) - median(resample(reference)));
  differences.sort((left, right) => left - right);
  return [percentile(differences, 2.5), percentile(differences, 97.5)];
}

/** Formats milliseconds with two decimals and a sign, and zero as 0.00 rather than -0.00. */
function signed(milliseconds: number): string {
  const rounded = Math.round(milliseconds * 100) / 100;
  const digits = Math.abs(rounded).toFixed(2);
  if (rounded > 0) return `+${digits}`;
  if (rounded < 0) return `−${digits}`;
  return digits;
}

function machine(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown CPU';
  return `${os.availableParallelism()} CPUs (nproc), ${model}, Node.js ${process.version}, ${os.type()} ${os.release()}`;
}

/** Returns the 1-minute load average, which shows whether other work shared the machine during the run. */
function loadAverage(): string {
  return os.loadavg()[0]?.toFixed(2) ?? 'unknown';
}

function table(results: Map<Probe, Map<Kind, Cell>>, random: () => number): string {
  const lines = [
    '| action | address | n | p50 ms | p90 ms | p99 ms | mean ms | p50 minus unknown, ms (95% interval) | statuses |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const [name, cells] of results) {
    const unknown = cells.get('unknown')?.milliseconds ?? [];
    for (const [kind, cell] of cells) {
      const sorted = [...cell.milliseconds].sort((left, right) => left - right);
      const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
      const statuses = [...cell.statuses].map(([status, count]) => `${status}×${count}`).join(' ');

      let difference = '';
      if (kind !== 'unknown') {
        const [low, high] = medianDifferenceInterval(cell.milliseconds, unknown, random);
        difference = `${signed(median(cell.milliseconds) - median(unknown))} (${signed(low)} to ${signed(high)})`;
      }
      lines.push(
        `| ${ACTION_LABELS[name]} | ${kind} | ${sorted.length} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 90).toFixed(2)} | ` +
          `${percentile(sorted, 99).toFixed(2)} | ${mean.toFixed(2)} | ${difference} | ${statuses} |`,
      );
    }
  }
  return lines.join('\n');
}

function writeDoc(section: string): void {
  const block = `${BEGIN_MARK}\n${section}\n${END_MARK}`;
  const current = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '# Benchmarks\n';

  const begin = current.indexOf(BEGIN_MARK);
  const end = current.indexOf(END_MARK);
  const updated =
    begin !== -1 && end > begin
      ? current.slice(0, begin) + block + current.slice(end + END_MARK.length)
      : `${current.trimEnd()}\n\n## Account enumeration timing\n\n${block}\n`;
  fs.writeFileSync(DOC, updated);
}

async function main(): Promise<void> {
  // The same check as `npm start`: rebuild dist/ when a source file is newer.
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build-if-needed.mjs')], { cwd: REPO_ROOT, stdio: 'inherit' });

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigma-accounts-bench-'));
  const smtp = new SmtpSink();
  const server = await startServer(dataDir, await smtp.start());

  try {
    console.log(`making ${POOL_SIZE} accounts of each kind`);
    const pools = await makeAccounts(server.url, smtp, dataDir);

    const loadBefore = loadAverage();
    const random = seededRandom(1);
    const results = new Map<Probe, Map<Kind, Cell>>();
    for (const name of ACTIONS) {
      console.log(`timing ${name}: ${SAMPLES} requests for each kind of address`);
      results.set(name, await measure(server.url, pools, name, random));
    }

    const section = [
      `Measured on ${new Date().toISOString().slice(0, 10)}: ${machine()}; SQLite store; ${SAMPLES} sequential requests per row`,
      `after ${WARMUP_PER_KIND} untimed ones per kind, over one keep-alive connection from the same machine, timed from`,
      `sending the request to the end of the response body. The 1-minute load average was ${loadBefore} before the timed`,
      `requests and ${loadAverage()} after them. Server settings besides the defaults:`,
      `${Object.entries(SERVER_SETTINGS).map(([name, value]) => `\`${name}=${value}\``).join(', ')}.`,
      '',
      table(results, random),
    ].join('\n');
    writeDoc(section);
    console.log(`${section}\n\nwritten to ${path.relative(REPO_ROOT, DOC)}`);
  } finally {
    await stopServer(server.child);
    await smtp.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
