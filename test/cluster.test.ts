import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { activeAccount, uniqueAddress } from './helpers/accounts.js';
import { action, errorList, request } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/outbox.js';
import { freePort } from './helpers/ports.js';
import { type Sample, scrape, valueOf } from './helpers/prometheus.js';
import { type RawResponse, sendRaw } from './helpers/raw-http.js';
import { errorLogLines, type ServerProcess, startServerProcess } from './helpers/server-process.js';
import { BULK_SIGN_UPS, tempDataDir } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { countRows, databaseUrlFor, ensureDatabase, testStore } from './helpers/store.js';

const TOKEN = 'metrics-token-for-tests-0123456789abcdef';
const BEARER = { Authorization: `Bearer ${TOKEN}` };
// Requests that each open a connection of their own, which node:cluster hands to the workers in turn.
const ONE_REQUEST_PER_CONNECTION = new http.Agent({ keepAlive: false });

interface LogEntry {
  msg?: string;
  pid?: number;
  route?: string;
  metrics?: string | null;
}

function logEntries(server: ServerProcess, from = 0): LogEntry[] {
  return server.logLines.slice(from).map((line) => JSON.parse(line) as LogEntry);
}

/** Returns the process ids of the log lines that announce a started server. */
function startedPids(server: ServerProcess): number[] {
  return logEntries(server)
    .filter((entry) => entry.msg === 'sigma-accounts started')
    .map((entry) => entry.pid ?? -1);
}

/** Counts the request log lines of `route` from the log line at index `from` on, by process id. */
function requestsByPid(server: ServerProcess, route: string, from = 0): Map<number, number> {
  const counts = new Map<number, number>();
  for (const entry of logEntries(server, from)) {
    if (entry.msg !== 'request completed' || entry.route !== route) continue;
    counts.set(entry.pid ?? -1, (counts.get(entry.pid ?? -1) ?? 0) + 1);
  }
  return counts;
}

function sum(counts: Map<number, number>): number {
  return [...counts.values()].reduce((total, count) => total + count, 0);
}

/** Sends `count` GET requests to `path` one after another, each on a new connection. */
async function getEach(baseUrl: string, path: string, count: number): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const response = await sendRaw(baseUrl, { method: 'GET', target: path, headers: {} }, ONE_REQUEST_PER_CONNECTION);
    assert.equal(response.status, 200, `GET ${path}`);
  }
}

function responseCount(samples: Sample[], route: string): number {
  return valueOf(samples, 'sigma_accounts_http_request_duration_seconds_count', { route, action: '', method: 'GET', status: '200' }) ?? 0;
}

/** Returns the pid labels of a metric's samples, sorted. */
function pidsOf(samples: Sample[], name: string): number[] {
  return samples
    .filter((sample) => sample.name === name)
    .map((sample) => Number(sample.labels.pid))
    .sort((a, b) => a - b);
}

function sorted(numbers: number[]): number[] {
  return [...numbers].sort((a, b) => a - b);
}

describe('WORKERS=2', () => {
  let smtp: SmtpSink;
  let server: ServerProcess;
  let dataDir: string;
  let metricsUrl: string;
  let publicMetricsUrl: string;

  before(async () => {
    smtp = new SmtpSink();
    dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    const metricsPort = await freePort();
    server = await startServerProcess({
      ...BULK_SIGN_UPS,
      WORKERS: '2',
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrlFor(dataDir),
      SMTP_URL: await smtp.start(),
      MAIL_POLL_MS: '50',
      METRICS_PORT: String(metricsPort),
      METRICS_TOKEN: TOKEN,
    });
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    publicMetricsUrl = `${server.url}/metrics`;
  });

  after(async () => {
    if (server.running()) await server.stop();
    await smtp.stop();
  });

  test('two workers serve one port', async () => {
    await waitUntil(() => startedPids(server).length === 2, 'both workers started');
    const pids = startedPids(server);
    assert.equal(new Set(pids).size, 2);
    assert.ok(!pids.includes(server.pid), 'the workers are processes of their own');

    // Sessions live in the store, so a login on one worker counts on the other.
    const account = await activeAccount(server.url, smtp);
    const checks = await Promise.all(Array.from({ length: 20 }, () => action(server.url, 'check_login', { cookies: account.cookies })));
    assert.deepEqual([...new Set(checks.map((response) => response.status))], [200]);
  });

  test('metrics port sums every worker', async () => {
    await waitUntil(() => startedPids(server).length === 2, 'both workers started');
    const workers = startedPids(server);
    const started = logEntries(server).filter((entry) => entry.msg === 'sigma-accounts started');
    assert.deepEqual(started.map((entry) => entry.metrics), [null, null], 'no worker listens on METRICS_PORT');
    const primary = logEntries(server).find((entry) => entry.msg === 'starting workers');
    assert.equal(primary?.pid, server.pid);
    assert.equal(`${primary?.metrics}/metrics`, metricsUrl, 'the primary listens on METRICS_PORT');

    // No other test sends /health/live, so the counter contains these requests only.
    const count = 40;
    await getEach(server.url, '/health/live', count);
    await waitUntil(() => sum(requestsByPid(server, '/health/live')) === count, 'every request is logged');
    const served = requestsByPid(server, '/health/live');
    assert.deepEqual(sorted([...served.keys()]), sorted(workers), 'both workers served requests');

    const samples = await scrape(metricsUrl, BEARER);
    assert.equal(responseCount(samples, '/health/live'), count);
    assert.deepEqual(pidsOf(samples, 'process_cpu_user_seconds_total'), sorted(workers));
    assert.deepEqual(pidsOf(samples, 'process_start_time_seconds'), sorted(workers));
    assert.deepEqual(pidsOf(samples, 'nodejs_heap_size_used_bytes'), sorted(workers));
    const unlabelled = samples.filter((sample) => /^(process|nodejs)_/.test(sample.name) && sample.labels.pid === undefined);
    assert.deepEqual(unlabelled.map((sample) => sample.name), [], 'every process series names its worker');
  });

  test('public /metrics sums every worker', async () => {
    const missing = await request(publicMetricsUrl, { method: 'GET' });
    assert.equal(missing.status, 401);
    assert.equal(errorList(missing)[0]?.error_type, 'permission');

    const before = await scrape(publicMetricsUrl, BEARER);
    const from = server.logLines.length;
    const count = 30;
    await getEach(server.url, '/health/ready', count);
    await waitUntil(() => sum(requestsByPid(server, '/health/ready', from)) === count, 'every request is logged');
    assert.equal(requestsByPid(server, '/health/ready', from).size, 2, 'both workers served requests');

    // Each scrape lands on one worker, which returns the sums of both.
    for (let scrapes = 0; scrapes < 4; scrapes += 1) {
      const samples = await scrape(publicMetricsUrl, BEARER);
      assert.equal(responseCount(samples, '/health/ready') - responseCount(before, '/health/ready'), count);
      assert.equal(responseCount(samples, '/health/live'), 40);
    }
  });

  test('shared and per-process gauges merged', async () => {
    smtp.refusing = true;
    try {
      const rejected = smtp.rejectedCount;
      const created = await action(server.url, 'create', { body: { email: uniqueAddress('cluster-outbox') } });
      assert.equal(created.status, 200, created.text);
      await waitUntil(() => smtp.rejectedCount > rejected, 'a delivery was refused');

      // The refused message waits 5 s for its retry, so the count stays the same while it is compared.
      const queued = await countRows(dataDir, 'SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL');
      assert.ok(queued >= 1, 'the refused message is queued');
      const samples = await scrape(metricsUrl, BEARER);
      assert.equal(valueOf(samples, 'sigma_accounts_outbox_messages', { state: 'queued' }), queued, 'the one database is counted once');
      assert.equal(valueOf(samples, 'sigma_accounts_outbox_messages', { state: 'failed' }), 0);

      const poolSize = valueOf(samples, 'sigma_accounts_database_pool_max_connections');
      if (testStore() === 'postgres') assert.equal(poolSize, 20, 'DATABASE_POOL_SIZE of 10 for each of two workers');
      else assert.equal(poolSize, undefined);
      assert.equal(valueOf(samples, 'sigma_accounts_password_hash_queue_length'), 0);
    } finally {
      smtp.refusing = false;
    }
  });

  test('silent worker fails the scrape with 503', async () => {
    const [frozen = -1] = startedPids(server);
    assert.ok(frozen > 0, 'the log names the worker pid');
    const publicScrapes: Array<Promise<RawResponse>> = [];
    process.kill(frozen, 'SIGSTOP');
    try {
      const direct = await request(metricsUrl, { method: 'GET', headers: BEARER, signal: AbortSignal.timeout(15_000) });
      assert.equal(direct.status, 503);
      assert.equal(direct.headers.get('retry-after'), '5');
      assert.match(direct.text, /^the metrics of every worker could not be gathered: a worker did not respond within 5 s/);

      // node:cluster hands a new connection only to a worker that took its last one, so the stopped worker
      // gets at most one of these two, and the other worker returns what the primary sent it.
      const scrapeOnce = () => sendRaw(server.url, { method: 'GET', target: '/metrics', headers: BEARER }, ONE_REQUEST_PER_CONNECTION, 30_000);
      publicScrapes.push(scrapeOnce(), scrapeOnce());
      const first = await Promise.any(publicScrapes);
      assert.equal(first.status, 503);
      assert.equal(first.headers['retry-after'], '5');
      const body = JSON.parse(first.body.toString('utf8')) as Array<{ error_type: string; error_message: string; error_point: null }>;
      assert.equal(body.length, 1);
      assert.equal(body[0]?.error_type, 'backend');
      assert.match(body[0]?.error_message ?? '', /^the metrics of every worker could not be gathered: a worker did not respond within 5 s/);
      assert.equal(body[0]?.error_point, null);
    } finally {
      process.kill(frozen, 'SIGCONT');
    }

    const settled = await Promise.allSettled(publicScrapes);
    assert.deepEqual(settled.map((result) => result.status), ['fulfilled', 'fulfilled'], 'no scrape hangs');
    const samples = await scrape(metricsUrl, BEARER);
    assert.equal(responseCount(samples, '/health/live'), 40);
  });

  test('a worker that dies is replaced', async () => {
    const [victim = -1, survivor = -1] = startedPids(server);
    // process.kill(0) would signal this test's own process group.
    assert.ok(victim > 0, 'the log names the worker pid');
    process.kill(victim, 'SIGKILL');

    // From the exit until the new worker has started, a scrape either covers the running workers or, while
    // the new one starts, gets 503 at once rather than after waiting for it.
    await waitUntil(() => logEntries(server).some((entry) => entry.msg === 'a worker exited; starting another'), 'the primary saw the exit');
    const starting = '503 the metrics of every worker could not be gathered: a worker is starting; try again';
    const outcomes = new Set<string>();
    while (startedPids(server).length < 3) {
      const response = await request(metricsUrl, { method: 'GET', headers: BEARER, signal: AbortSignal.timeout(15_000) });
      outcomes.add(response.status === 200 ? '200' : `${response.status} ${response.text.trim()}`);
      await sleep(50);
    }
    assert.ok(outcomes.has(starting), `a scrape met the starting worker: ${[...outcomes].join(' | ')}`);
    assert.deepEqual([...outcomes].filter((outcome) => outcome !== '200' && outcome !== starting), []);

    const account = await activeAccount(server.url, smtp);
    const checks = await Promise.all(Array.from({ length: 10 }, () => action(server.url, 'check_login', { cookies: account.cookies })));
    assert.deepEqual([...new Set(checks.map((response) => response.status))], [200]);

    // The new worker's counters start at zero; the scrape still covers every running worker.
    const replacement = startedPids(server)[2] ?? -1;
    const samples = await scrape(metricsUrl, BEARER);
    assert.deepEqual(pidsOf(samples, 'process_start_time_seconds'), sorted([survivor, replacement]));
    const publicSamples = await scrape(publicMetricsUrl, BEARER);
    assert.deepEqual(pidsOf(publicSamples, 'process_start_time_seconds'), sorted([survivor, replacement]));
  });

  test('SIGTERM stops every worker', async () => {
    const pids = startedPids(server).slice(-2);
    await server.stop();
    const { code } = await server.exited;
    assert.equal(code, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
    const errors = errorLogLines(server.logLines).filter((line) => !line.includes('a worker exited'));
    assert.deepEqual(errors, []);
  });
});

describe('WORKERS=1', () => {
  let server: ServerProcess;
  let metricsPort: number;

  before(async () => {
    const dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    metricsPort = await freePort();
    server = await startServerProcess({ DATA_DIR: dataDir, DATABASE_URL: databaseUrlFor(dataDir), METRICS_PORT: String(metricsPort) });
  });

  after(async () => {
    if (server.running()) await server.stop();
  });

  test('the one process serves its metrics', async () => {
    const started = logEntries(server).filter((entry) => entry.msg === 'sigma-accounts started');
    assert.equal(started.length, 1);
    assert.equal(started[0]?.pid, server.pid, 'no primary process');
    assert.equal(started[0]?.metrics, `http://127.0.0.1:${metricsPort}`);

    await getEach(server.url, '/health/live', 5);
    const samples = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(responseCount(samples, '/health/live'), 5);
    const cpu = samples.filter((sample) => sample.name === 'process_cpu_user_seconds_total');
    assert.deepEqual(cpu.map((sample) => sample.labels), [{}], 'process series carry no pid label');
    assert.equal(samples.filter((sample) => sample.name === 'process_start_time_seconds').length, 1);
  });
});
