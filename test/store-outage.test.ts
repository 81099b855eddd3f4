import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import pg from 'pg';

import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/outbox.js';
import { clusterUnavailableReason, PostgresCluster } from './helpers/postgres-cluster.js';
import { errorLogLines, outputOf, type ServerProcess, startServerProcess } from './helpers/server-process.js';
import { BULK_SIGN_UPS } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { testStore } from './helpers/store.js';

function skipReason(): string | false {
  if (testStore() !== 'postgres') return 'PostgreSQL only; runs with TEST_STORE=postgres, as the second pass of npm test';
  return clusterUnavailableReason() ?? false;
}

const DATABASE = 'sigma_accounts';

// No request may take longer than this, during the outage or after it. The server's own limits are lower:
// DATABASE_CONNECT_TIMEOUT_MS and DATABASE_STATEMENT_TIMEOUT_MS below, and 2 s for the readiness ping.
const HANG_LIMIT_MS = 4000;

// The load loop: a few concurrent clients, each pausing between requests, for a bounded time and count.
const LOAD_CLIENTS = 4;
const LOAD_PAUSE_MS = 20;
const LOAD_MAX_REQUESTS = 2000;

const RECOVERY_TIMEOUT_MS = 20_000;

interface Outcome {
  action: 'check_login' | 'create';
  /** The address a create sent; null for check_login. */
  email: string | null;
  startedAt: number;
  durationMs: number;
  /** HTTP status, or 0 when the request failed or timed out without a response. */
  status: number;
  errorType: string | null;
  retryAfter: string | null;
  failure: string | null;
}

/** Up to ten outcomes as text, and how many more there are, for an assertion message. */
function listOutcomes(outcomes: Outcome[]): string[] {
  const listed = outcomes.slice(0, 10).map(describeOutcome);
  return outcomes.length > 10 ? [...listed, `... and ${outcomes.length - 10} more`] : listed;
}

function describeOutcome(outcome: Outcome): string {
  const detail = outcome.failure ?? `${outcome.status} ${outcome.errorType ?? ''} Retry-After=${outcome.retryAfter ?? '(none)'}`;
  return `${outcome.action} after ${outcome.durationMs} ms: ${detail}`;
}

/** Sends one action and records how it ended. It never throws, and it gives up after HANG_LIMIT_MS. */
async function timedAction(url: string, name: Outcome['action'], options: { body?: unknown; cookies?: Record<string, string> }, email: string | null): Promise<Outcome> {
  const startedAt = Date.now();
  let response: ApiResponse;
  try {
    response = await action(url, name, { ...options, signal: AbortSignal.timeout(HANG_LIMIT_MS) });
  } catch (error) {
    const failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { action: name, email, startedAt, durationMs: Date.now() - startedAt, status: 0, errorType: null, retryAfter: null, failure };
  }

  let errorType: string | null = null;
  if (response.status >= 400) {
    try {
      errorType = errorList(response)[0]?.error_type ?? null;
    } catch {
      errorType = `(not an error list: ${response.text.slice(0, 100)})`;
    }
  }
  return {
    action: name,
    email,
    startedAt,
    durationMs: Date.now() - startedAt,
    status: response.status,
    errorType,
    retryAfter: response.headers.get('retry-after'),
    failure: null,
  };
}

/**
 * Runs LOAD_CLIENTS clients that alternate check_login with `cookies` and create of a new address until
 * `durationMs` has passed or LOAD_MAX_REQUESTS were sent.
 */
async function runLoad(url: string, cookies: Record<string, string>, durationMs: number): Promise<Outcome[]> {
  const deadline = Date.now() + durationMs;
  const outcomes: Outcome[] = [];
  let sent = 0;

  const client = async () => {
    while (Date.now() < deadline && sent < LOAD_MAX_REQUESTS) {
      sent += 1;
      if (sent % 2 === 0) {
        outcomes.push(await timedAction(url, 'check_login', { cookies }, null));
      } else {
        const email = uniqueAddress('outage');
        outcomes.push(await timedAction(url, 'create', { body: { email } }, email));
      }
      await sleep(LOAD_PAUSE_MS);
    }
  };

  await Promise.all(Array.from({ length: LOAD_CLIENTS }, client));
  return outcomes;
}

async function probe(url: string): Promise<{ status: number; durationMs: number; errorType: string | null; retryAfter: string | null }> {
  const startedAt = Date.now();
  const response = await request(url, { method: 'GET', signal: AbortSignal.timeout(HANG_LIMIT_MS) });
  const errorType = response.status >= 400 ? (errorList(response)[0]?.error_type ?? null) : null;
  return { status: response.status, durationMs: Date.now() - startedAt, errorType, retryAfter: response.headers.get('retry-after') };
}

describe('PostgreSQL outage under load', { skip: skipReason() }, () => {
  const smtp = new SmtpSink();
  let cluster: PostgresCluster | undefined;
  let server: ServerProcess | undefined;
  let cookies: Record<string, string> = {};
  let accountUuid = '';
  // Every load outcome of every test, for the consistency check at the end.
  const outcomes: Outcome[] = [];

  const running = () => {
    assert.ok(cluster, 'the cluster started');
    assert.ok(server, 'the server started');
    return { server, cluster };
  };

  const query = async <T extends object>(text: string, parameters: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: running().cluster.url(DATABASE) });
    await client.connect();
    try {
      return (await client.query(text, parameters)).rows as T[];
    } finally {
      await client.end();
    }
  };

  before(async () => {
    cluster = await PostgresCluster.create();
    await cluster.start();
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }

    server = await startServerProcess({
      ...BULK_SIGN_UPS,
      DATABASE_URL: cluster.url(DATABASE),
      SMTP_URL: await smtp.start(),
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_STATEMENT_TIMEOUT_MS: '1000',
      MAIL_POLL_MS: '100',
      MAIL_LEASE_SECONDS: '2',
      LOG_LEVEL: 'info',
    });

    const email = uniqueAddress('outage-owner');
    const created = await action(server.url, 'create', { body: { email } });
    assert.equal(created.status, 200, created.text);
    const [mail] = await smtp.waitFor(email);
    assert.ok(mail);
    const confirmed = await action(server.url, 'confirm', { body: { token: tokenOf(confirmationLinkIn(mail)), password: PASSWORD } });
    assert.equal(confirmed.status, 200, confirmed.text);
    accountUuid = (confirmed.body as { uuid: string }).uuid;

    const login = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200, login.text);
    cookies = Object.fromEntries(Object.entries(login.cookies).map(([name, cookie]) => [name, cookie.value]));
  });

  after(async () => {
    await server?.stop();
    await smtp.stop();
    await cluster?.destroy();
  });

  test('load is served before the outage', async () => {
    const { server } = running();

    const load = await runLoad(server.url, cookies, 1500);
    outcomes.push(...load);

    const failed = load.filter((outcome) => outcome.status !== 200);
    assert.ok(load.length > 20, `the load loop sent ${load.length} requests`);
    assert.deepEqual(listOutcomes(failed), [], 'every request before the outage succeeds');
  });

  test('outage answers 503 database quickly', async () => {
    const { server, cluster } = running();
    const logMark = server.logLines.length;

    const loading = runLoad(server.url, cookies, 4500);
    await sleep(1000);
    await cluster.stop('immediate');
    const stoppedAt = Date.now();
    const load = await loading;
    outcomes.push(...load);

    assert.ok(server.running(), `the server process survived the outage; ${outputOf(server)}`);
    const unexpected = load.filter((outcome) => !(outcome.status === 200 || outcome.status === 503));
    assert.deepEqual(listOutcomes(unexpected), [], 'every request gets 200 or 503, never a 500, a 401 or no answer');

    const unavailable = load.filter((outcome) => outcome.status === 503);
    assert.ok(unavailable.length > 0, 'some requests met the outage');
    for (const outcome of unavailable) {
      assert.equal(outcome.errorType, 'database', describeOutcome(outcome));
      assert.match(outcome.retryAfter ?? '', /^\d+$/, `a 503 has a Retry-After header: ${describeOutcome(outcome)}`);
    }

    const afterStop = load.filter((outcome) => outcome.startedAt >= stoppedAt);
    assert.ok(afterStop.length > 0, 'requests were sent after PostgreSQL stopped');
    assert.deepEqual(
      listOutcomes(afterStop.filter((outcome) => outcome.status !== 503)),
      [],
      'every request sent after PostgreSQL stopped gets 503',
    );

    const slowest = Math.max(...load.map((outcome) => outcome.durationMs));
    assert.ok(slowest < HANG_LIMIT_MS, `the slowest request took ${slowest} ms`);

    const failures = errorLogLines(server.logLines.slice(logMark)).filter((line) => line.includes('"request failed"'));
    assert.deepEqual(failures, [], 'the server logged no request as an internal failure');
  });

  test('readiness fails while liveness holds', async () => {
    const { server } = running();
    assert.ok(server.running(), 'the server process runs, so that its probes can be asked');

    const ready = await probe(`${server.url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.errorType, 'database');
    assert.match(ready.retryAfter ?? '', /^\d+$/, '/health/ready has a Retry-After header');
    assert.ok(ready.durationMs < HANG_LIMIT_MS, `/health/ready took ${ready.durationMs} ms`);

    const live = await probe(`${server.url}/health/live`);
    assert.equal(live.status, 200);
    assert.ok(live.durationMs < HANG_LIMIT_MS, `/health/live took ${live.durationMs} ms`);
  });

  test('same process serves again after restart', async () => {
    const { server, cluster } = running();

    // Started before any check, so that the checks of the later tests can read the database either way.
    await cluster.start();
    assert.ok(server.running(), `the server process survived the outage; ${outputOf(server)}`);

    // The server must reconnect by itself; until it does, each request may get 503 but nothing else.
    const duringRecovery: Outcome[] = [];
    await waitUntil(
      async () => {
        const outcome = await timedAction(server.url, 'check_login', { cookies }, null);
        duringRecovery.push(outcome);
        return outcome.status === 200;
      },
      'check_login returns 200 again',
      RECOVERY_TIMEOUT_MS,
    );
    assert.deepEqual(
      listOutcomes(duringRecovery.filter((outcome) => outcome.status !== 200 && outcome.status !== 503)),
      [],
      'requests during the recovery get 200 or 503',
    );

    const uuid = await action(server.url, 'check_login_with_return_uuid', { cookies });
    assert.equal(uuid.status, 200, `the session from before the outage is still valid: ${uuid.text}`);
    assert.deepEqual(uuid.body, { uuid: accountUuid });

    const email = uniqueAddress('outage-after');
    const created = await timedAction(server.url, 'create', { body: { email } }, email);
    outcomes.push(created);
    assert.equal(created.status, 200, describeOutcome(created));

    const ready = await probe(`${server.url}/health/ready`);
    assert.equal(ready.status, 200, '/health/ready returns 200 again');
    assert.ok(server.running(), 'the same server process serves');
    const starts = server.logLines.filter((line) => line.includes('"sigma-accounts started"'));
    assert.equal(starts.length, 1, 'the server never restarted');
  });

  test('nothing half-written after the outage', async () => {
    const withoutToken = await query<{ uuid: string }>(
      `SELECT uuid FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.account_uuid = a.uuid AND t.purpose = 'confirm')`,
    );
    assert.deepEqual(withoutToken, [], 'every account has its confirmation token row');

    const withoutMail = await query<{ uuid: string }>(
      'SELECT uuid FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.recipient = a.email)',
    );
    assert.deepEqual(withoutMail, [], 'every account has its confirmation mail in the outbox');

    const orphanMail = await query<{ id: string }>(
      'SELECT id FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.email = o.recipient)',
    );
    assert.deepEqual(orphanMail, [], 'every outbox row belongs to an account');

    const succeeded = outcomes
      .filter((outcome) => outcome.action === 'create' && outcome.status === 200)
      .flatMap((outcome) => (outcome.email === null ? [] : [outcome.email]));
    assert.ok(succeeded.length > 0, 'some creates succeeded');
    const counts = await query<{ recipient: string; accounts: string; messages: string }>(
      `SELECT r.recipient,
              (SELECT count(*) FROM accounts a WHERE a.email = r.recipient) AS accounts,
              (SELECT count(*) FROM outbox o WHERE o.recipient = r.recipient) AS messages
       FROM unnest($1::text[]) AS r(recipient)`,
      [succeeded],
    );
    for (const row of counts) {
      assert.equal(Number(row.accounts), 1, `the 200 create of ${row.recipient} has its account row`);
      assert.equal(Number(row.messages), 1, `the 200 create of ${row.recipient} has its outbox row`);
    }
  });

  test('queued mail is sent after the outage', async () => {
    const { server } = running();
    assert.ok(server.running(), 'the server process runs, so that its mail worker can send');

    await waitUntil(
      async () => {
        const [row] = await query<{ count: string }>('SELECT count(*) AS count FROM outbox WHERE sent_at IS NULL');
        return Number(row?.count) === 0;
      },
      'every outbox row is marked sent',
      RECOVERY_TIMEOUT_MS,
    );

    const messages = await query<{ recipient: string }>('SELECT recipient FROM outbox');
    for (const { recipient } of messages) {
      assert.ok(smtp.to(recipient).length >= 1, `mail to ${recipient} arrived`);
    }
    assert.ok(server.running(), 'the server process still runs');
  });
});
