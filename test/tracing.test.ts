import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ConfigError, loadConfig } from '../src/config.js';
import { withoutLiterals } from '../src/tracing/statement-spans.js';
import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, request } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/outbox.js';
import { freePort } from './helpers/ports.js';
import { startTestServer, tempDataDir, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, ensureDatabase, testStore } from './helpers/store.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ACTION_ROUTE = '/api/2.0/accounts/action/';
// SpanKind in OTLP: 2 is SERVER, 3 is CLIENT.
const SERVER = 2;
const CLIENT = 3;
const DB_SYSTEM = testStore() === 'postgres' ? 'postgresql' : 'sqlite';

type AttributeValue = string | number | boolean;

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}

interface OtlpRequest {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

/** A span as the receiver got it, with its attributes and its resource's attributes as plain objects. */
interface ExportedSpan extends Omit<OtlpSpan, 'attributes'> {
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
}

function attributesOf(list: OtlpAttribute[]): Record<string, AttributeValue> {
  return Object.fromEntries(
    list.map(({ key, value }) => [key, value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.doubleValue ?? value.boolValue ?? '']),
  );
}

/** An OTLP/HTTP receiver on 127.0.0.1 that keeps every JSON request posted to /v1/traces. */
class OtlpReceiver {
  /** Raw bodies, to search for anything that must never be exported. */
  readonly payloads: string[] = [];
  private readonly server = http.createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const known = incoming.method === 'POST' && incoming.url === '/v1/traces' && incoming.headers['content-type'] === 'application/json';
      if (known) this.payloads.push(Buffer.concat(chunks).toString('utf8'));
      outgoing.writeHead(known ? 200 : 404, { 'Content-Type': 'application/json' });
      outgoing.end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  spans(): ExportedSpan[] {
    return this.payloads.flatMap((payload) =>
      (JSON.parse(payload) as OtlpRequest).resourceSpans.flatMap(({ resource, scopeSpans }) =>
        scopeSpans.flatMap(({ spans }) =>
          spans.map((span) => ({ ...span, attributes: attributesOf(span.attributes), resource: attributesOf(resource.attributes) })),
        ),
      ),
    );
  }
}

/** Returns the trace id that the log line of a request carries. */
async function traceIdOf(server: TestServer, response: ApiResponse): Promise<string> {
  const requestId = response.headers.get('x-request-id');
  const find = () =>
    server.logLines
      .map((line) => JSON.parse(line) as { reqId?: string; msg?: string; traceId?: string })
      .find((entry) => entry.reqId === requestId && entry.msg === 'request completed')?.traceId;
  await waitUntil(() => find() !== undefined, `the log line of request ${requestId} has a trace id`);
  return find() ?? '';
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

describe('tracing settings', () => {
  test('off without an endpoint', () => {
    assert.equal(loadConfig({ OTEL_SERVICE_NAME: 'ignored', OTEL_EXPORTER_OTLP_TIMEOUT: 'not read' }).tracing, null);
  });

  test('base endpoint gets v1/traces', () => {
    const cases = [
      ['http://127.0.0.1:4318', 'http://127.0.0.1:4318/v1/traces'],
      ['http://collector:4318/', 'http://collector:4318/v1/traces'],
      ['https://collector.example.com/otlp', 'https://collector.example.com/otlp/v1/traces'],
    ];
    for (const [endpoint, tracesUrl] of cases) {
      assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }).tracing?.tracesUrl, tracesUrl, endpoint);
    }
  });

  test('traces endpoint and timeout win', () => {
    const tracing = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom/path',
      OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2000',
      OTEL_SERVICE_NAME: 'accounts-eu',
    }).tracing;
    assert.deepEqual(tracing, { tracesUrl: 'http://traces:4318/custom/path', serviceName: 'accounts-eu', exportTimeoutMs: 2000 });
    assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318' }).tracing?.serviceName, 'sigma-accounts');
    assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318' }).tracing?.exportTimeoutMs, 10_000);
  });

  test('statement literals become placeholders', () => {
    const cases = [
      ['select "count" from "throttle_counters" where "key" = ? and "expires_at" > ?', 'select "count" from "throttle_counters" where "key" = ? and "expires_at" > ?'],
      ['update "t" set "c" = case when "t"."e" <= $1 then 1796440731208 else "t"."c" + 1.5 end', 'update "t" set "c" = case when "t"."e" <= $1 then ? else "t"."c" + ? end'],
      ["select * from \"accounts2\" where \"email\" = 'ada@example.com' and \"note\" = 'it''s'", 'select * from "accounts2" where "email" = ? and "note" = ?'],
    ];
    for (const [text, expected] of cases) assert.equal(withoutLiterals(text ?? ''), expected);
  });

  test('invalid values are rejected', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://user:secret@collector:4317' }, /^OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL/],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces?key=secret' }, /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TIMEOUT: '0' }, /^OTEL_EXPORTER_OTLP_TIMEOUT must be a whole number/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'two\nlines' }, /^OTEL_SERVICE_NAME must be one line/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, message);
        // A URL may carry credentials, so the message never repeats it.
        assert.ok(!error.message.includes('secret'), error.message);
        return true;
      });
    }
  });
});

describe('tracing', () => {
  let smtp: SmtpSink;
  let receiver: OtlpReceiver;
  let trusted: TestServer;
  let untrusted: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    receiver = new OtlpReceiver();
    const receiverUrl = await receiver.start();
    trusted = await startTestServer({ SMTP_URL: await smtp.start(), OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, TRUSTED_PROXIES: '127.0.0.1' });
    untrusted = await startTestServer({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiverUrl}/v1/traces`,
      OTEL_SERVICE_NAME: 'accounts-behind-no-proxy',
      TRUSTED_PROXIES: '10.0.0.0/8',
    });
  });

  after(async () => {
    await trusted.stop();
    await untrusted.stop();
    await receiver.stop();
    await smtp.stop();
  });

  test('login and check_login export request and statement spans', async () => {
    const account = await activeAccount(trusted.url, smtp);
    const login = await action(trusted.url, 'login', { body: { username: account.email, password: account.password } });
    assert.equal(login.status, 200);
    const cookies = { sessionid: login.cookies.sessionid?.value ?? '', csrftoken: login.cookies.csrftoken?.value ?? '' };
    const checked = await action(trusted.url, 'check_login', { cookies });
    assert.equal(checked.status, 200);

    const requests = [
      { name: 'login', response: login, statement: { operation: 'INSERT', table: 'sessions' } },
      // The first lookup of a new session reads the store.
      { name: 'check_login', response: checked, statement: { operation: 'SELECT', table: 'sessions' } },
    ];
    const traceIds = await Promise.all(requests.map(({ response }) => traceIdOf(trusted, response)));
    await trusted.tracing?.flush();
    const spans = receiver.spans();

    requests.forEach(({ name, statement }, index) => {
      const inTrace = spans.filter((span) => span.traceId === traceIds[index]);
      const serverSpans = inTrace.filter((span) => span.kind === SERVER);
      assert.equal(serverSpans.length, 1, `server spans of ${name}`);
      const [serverSpan] = serverSpans;
      assert.equal(serverSpan?.name, `POST ${ACTION_ROUTE}`);
      assert.equal(serverSpan?.parentSpanId || '', '', `${name} starts its trace`);
      assert.equal(serverSpan?.attributes['http.request.method'], 'POST');
      assert.equal(serverSpan?.attributes['http.route'], ACTION_ROUTE);
      assert.equal(serverSpan?.attributes['sigma_accounts.action'], name);
      assert.equal(serverSpan?.attributes['http.response.status_code'], 200);
      assert.equal(serverSpan?.resource['service.name'], 'sigma-accounts');

      const statements = inTrace.filter((span) => span.kind === CLIENT);
      assert.ok(statements.length > 0, `statement spans of ${name}`);
      for (const span of statements) {
        assert.equal(span.parentSpanId, serverSpan?.spanId, `parent of ${span.name}`);
        assert.equal(span.attributes['db.system'], DB_SYSTEM);
        assert.equal(span.attributes['db.system.name'], DB_SYSTEM);
        assert.equal(typeof span.attributes['db.query.text'], 'string');
        assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano), `${span.name} ends after it starts`);
      }
      const expected = statements.find(
        (span) => span.attributes['db.operation.name'] === statement.operation && span.attributes['db.collection.name'] === statement.table,
      );
      assert.ok(expected, `${name} has a ${statement.operation} on ${statement.table}: ${statements.map((span) => span.name).join(', ')}`);
      assert.equal(expected.name, `${statement.operation} ${statement.table}`);
      assert.match(String(expected.attributes['db.query.text']), new RegExp(`^${statement.operation} `, 'i'));
    });
  });

  test('exported spans hold no secret', async () => {
    const email = uniqueAddress('tracing-secrets');
    const { token } = await signUp(trusted.url, smtp, email);
    const confirmed = await action(trusted.url, 'confirm', { body: { token, password: PASSWORD } });
    assert.equal(confirmed.status, 200);
    const login = await action(trusted.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200);
    const sessionId = login.cookies.sessionid?.value ?? '';
    const csrfToken = login.cookies.csrftoken?.value ?? '';
    const checked = await action(trusted.url, 'check_login', { cookies: { sessionid: sessionId, csrftoken: csrfToken } });
    assert.equal(checked.status, 200);

    // A failed login counts against the throttle, whose statement Kysely compiles with a time in its text.
    const failedLogin = await action(trusted.url, 'login', { body: { username: email, password: `${PASSWORD} wrong` } });
    assert.equal(failedLogin.status, 401);

    const basic = Buffer.from(`${email}:${PASSWORD}`, 'utf8').toString('base64');
    const byBasic = await action(trusted.url, 'check_login_with_return_uuid', { headers: { Authorization: `Basic ${basic}` } });
    assert.equal(byBasic.status, 200);

    // Values in the query string and the path stay out of the spans too; only `do` is kept.
    const querySecret = `query-secret-${randomHex(8)}`;
    const withQuery = await request(`${trusted.url}${ACTION_ROUTE}?do=check_login&token=${querySecret}&email=${encodeURIComponent(email)}`, {
      body: {},
      cookies: { sessionid: sessionId },
    });
    assert.equal(withQuery.status, 200);
    const pathSecret = `path-secret-${randomHex(8)}`;
    const unknownPath = await request(`${trusted.url}/api/2.0/${pathSecret}/${encodeURIComponent(email)}/`, { method: 'GET' });
    assert.equal(unknownPath.status, 404);

    const traceIds = await Promise.all([confirmed, login, checked, byBasic, withQuery, unknownPath, failedLogin].map((response) => traceIdOf(trusted, response)));
    await trusted.tracing?.flush();
    const exported = new Set(receiver.spans().map((span) => span.traceId));
    assert.deepEqual(traceIds.filter((traceId) => !exported.has(traceId)), [], 'traces of these requests that were not exported');
    assert.equal(receiver.spans().find((span) => span.traceId === traceIds[4] && span.kind === SERVER)?.attributes['sigma_accounts.action'], 'check_login');
    assert.equal(receiver.spans().find((span) => span.traceId === traceIds[5] && span.kind === SERVER)?.name, 'GET');

    const secrets = {
      password: PASSWORD,
      'email address': email,
      'local part of the email address': email.slice(0, email.indexOf('@')),
      'confirmation token': token,
      'session id': sessionId,
      'CSRF token': csrfToken,
      'Basic credentials': basic,
      'query string value': querySecret,
      'path segment': pathSecret,
    };
    const payload = receiver.payloads.join('\n');
    const throttleStatements = receiver.spans().filter((span) => span.traceId === traceIds[6] && span.attributes['db.collection.name'] === 'throttle_counters');
    assert.ok(throttleStatements.length > 0, 'the failed login has throttle statements');
    for (const span of receiver.spans().filter((candidate) => candidate.kind === CLIENT)) {
      // Quoted names and $n placeholders aside, a digit in a statement would be a value written into it.
      const text = String(span.attributes['db.query.text']).replace(/"[^"]*"|\$\d+/g, '');
      assert.doesNotMatch(text, /\d/, `statement of span ${span.name}`);
    }
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(secret.length > 0, `${name} is known`);
      assert.ok(!payload.includes(secret), `the exported spans contain the ${name}`);
    }
  });

  test('work after the response adds no spans', async () => {
    // create wakes the mail worker, whose later polls (every 50 ms here) continue in the request's context.
    const email = uniqueAddress('tracing-background');
    const created = await action(trusted.url, 'create', { body: { email } });
    assert.equal(created.status, 200);
    const traceId = await traceIdOf(trusted, created);
    await smtp.waitFor(email);
    const count = () => receiver.spans().filter((span) => span.traceId === traceId).length;

    await trusted.tracing?.flush();
    const before = count();
    assert.ok(before > 1, 'the request and its statements are exported');
    await sleep(300);
    await trusted.tracing?.flush();
    assert.equal(count(), before);
  });

  test('trusted traceparent is continued', async () => {
    const traceId = randomHex(16);
    const parentSpanId = randomHex(8);
    const response = await action(trusted.url, 'check_login', { headers: { traceparent: `00-${traceId}-${parentSpanId}-01`, tracestate: 'edge=1' } });
    assert.equal(response.status, 401);

    assert.equal(await traceIdOf(trusted, response), traceId);
    await trusted.tracing?.flush();
    const serverSpan = receiver.spans().find((span) => span.traceId === traceId && span.kind === SERVER);
    assert.ok(serverSpan, 'the request is exported in the caller\'s trace');
    assert.equal(serverSpan.parentSpanId, parentSpanId);
    assert.equal(serverSpan.attributes['http.response.status_code'], 401);
  });

  test('untrusted traceparent starts a new trace', async () => {
    const traceId = randomHex(16);
    const parentSpanId = randomHex(8);
    const response = await action(untrusted.url, 'check_login', { headers: { traceparent: `00-${traceId}-${parentSpanId}-01` } });
    assert.equal(response.status, 401);

    const usedTraceId = await traceIdOf(untrusted, response);
    assert.notEqual(usedTraceId, traceId);
    await untrusted.tracing?.flush();
    const spans = receiver.spans();
    assert.deepEqual(spans.filter((span) => span.traceId === traceId), [], 'spans in the caller\'s trace');
    const serverSpan = spans.find((span) => span.traceId === usedTraceId && span.kind === SERVER);
    assert.ok(serverSpan, 'the request is exported in a trace of its own');
    assert.equal(serverSpan.parentSpanId || '', '');
    assert.equal(serverSpan.resource['service.name'], 'accounts-behind-no-proxy');
  });

  test('receiver that is down fails no request', async () => {
    const closedPort = await freePort();
    const server = await startTestServer({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}`, OTEL_EXPORTER_OTLP_TIMEOUT: '500' });
    try {
      const failures = () =>
        server.logLines.map((line) => JSON.parse(line) as { msg?: string; reason?: string }).filter((entry) => entry.msg?.startsWith('trace export failed'));

      for (let round = 0; round < 2; round += 1) {
        const responses = await Promise.all(Array.from({ length: 5 }, () => action(server.url, 'check_login')));
        assert.deepEqual([...new Set(responses.map((response) => response.status))], [401]);
        const ready = await request(`${server.url}/health/ready`, { method: 'GET' });
        assert.equal(ready.status, 200);
        await server.tracing?.flush();
      }

      // Both exports failed, and the second failure came within a minute of the first.
      assert.equal(failures().length, 1, server.logLines.join('\n'));
      assert.equal(failures()[0]?.reason, 'ECONNREFUSED');
    } finally {
      await server.stop();
    }
  });

  test('without an endpoint nothing is loaded', async () => {
    const dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    const closedPort = await freePort();
    // Starts the built server twice in a fresh process, without and then with an endpoint, and counts the
    // OpenTelemetry SDK files that Node has loaded after a request to each. prom-client loads
    // @opentelemetry/api by itself, so the API package does not count.
    const script = `
      import { createRequire } from 'node:module';
      const { loadConfig } = await import(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'config.js'))});
      const { createLogger } = await import(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'logger.js'))});
      const { startServer } = await import(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'server.js'))});
      const require = createRequire(import.meta.url);
      const loadedFiles = () => Object.keys(require.cache).filter((file) => file.includes('/@opentelemetry/') && !file.includes('/@opentelemetry/api/'));

      const result = {};
      for (const [name, extra] of [['off', {}], ['on', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:${closedPort}' }]]) {
        const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: process.env.DATA_DIR, DATABASE_URL: process.env.DATABASE_URL, ...extra });
        const server = await startServer(config, createLogger('silent'));
        const response = await fetch(server.url + '${ACTION_ROUTE}?do=check_login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
        await response.arrayBuffer();
        await server.stop();
        result[name] = { status: response.status, tracing: server.tracing !== null, loaded: loadedFiles().length };
      }
      console.log(JSON.stringify(result));
    `;
    try {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, DATABASE_URL: databaseUrlFor(dataDir) },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(child.status, 0, child.stderr);

      const result = JSON.parse(child.stdout) as Record<'off' | 'on', { status: number; tracing: boolean; loaded: number }>;
      assert.deepEqual(result.off, { status: 401, tracing: false, loaded: 0 });
      // The same check finds the modules once tracing is on, which shows that it works.
      assert.equal(result.on.tracing, true);
      assert.ok(result.on.loaded > 0, JSON.stringify(result.on));
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
