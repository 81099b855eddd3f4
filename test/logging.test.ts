import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadConfig } from '../src/config.js';
import { chooseLogFormat } from '../src/logger.js';
import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, request } from './helpers/client.js';
import { waitUntil } from './helpers/outbox.js';
import { freePort } from './helpers/ports.js';
import { type ServerProcess, startServerProcess } from './helpers/server-process.js';
import { startTestServer, tempDataDir, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { databaseUrlFor, ensureDatabase, sqlRows } from './helpers/store.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(REPO_ROOT, 'dist', 'main.js');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// A pretty line: a time in brackets, the level, the pid, then the message.
const PRETTY_LINE = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \((\d+)\): (.*)$/;

interface LogEntry {
  level?: number;
  msg?: string;
  reqId?: string;
  statusCode?: number;
  method?: string;
  path?: string;
  action?: string;
}

describe('request logs', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ SMTP_URL: smtpUrl, LOG_LEVEL: 'trace' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('client abort is not a store outage', async () => {
    const marker = server.logLines.length;
    const { port } = new URL(server.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // The headers promise a body that never comes; then the client goes away.
    socket.write('POST /api/2.0/accounts/action/?do=create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email"');
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();

    await waitUntil(() => server.logLines.slice(marker).some((line) => line.includes('request completed') || line.includes('request rejected')), 'the aborted request is logged');
    const lines = server.logLines.slice(marker);
    assert.ok(!lines.some((line) => line.includes('store unavailable')), lines.join('\n'));
  });

  test('whole flow leaks no secret and logs each request once', async () => {
    const email = uniqueAddress('logging');
    const responses: ApiResponse[] = [];
    const send = async (response: Promise<ApiResponse>): Promise<ApiResponse> => {
      const settled = await response;
      responses.push(settled);
      return settled;
    };

    const created = await send(action(server.url, 'create', { body: { email } }));
    assert.equal(created.status, 200);
    const [mail] = await smtp.waitFor(email);
    assert.ok(mail);
    const link = confirmationLinkIn(mail);
    const token = tokenOf(link);

    const page = await send(request(link.replace(/^https?:\/\/[^/]+/, server.url), { method: 'GET', headers: { Accept: 'text/html' } }));
    assert.equal(page.status, 200);

    const rejectedPassword = 'Rejected-Password-For-Policy';
    const weak = await send(action(server.url, 'confirm', { body: { token, password: 'short' } }));
    assert.equal(weak.status, 400);
    const common = await send(action(server.url, 'confirm', { body: { token, password: 'password1234' } }));
    assert.equal(common.status, 400);

    const confirmed = await send(action(server.url, 'confirm', { body: { token, password: PASSWORD } }));
    assert.equal(confirmed.status, 200);
    const confirmSessionId = confirmed.cookies.sessionid?.value ?? '';
    const confirmCsrfToken = confirmed.cookies.csrftoken?.value ?? '';

    const reused = await send(action(server.url, 'confirm', { body: { token, password: rejectedPassword } }));
    assert.equal(reused.status, 400);

    const login = await send(action(server.url, 'login', { body: { username: email, password: PASSWORD } }));
    assert.equal(login.status, 200);
    const sessionId = login.cookies.sessionid?.value ?? '';
    const csrfToken = login.cookies.csrftoken?.value ?? '';
    assert.ok(sessionId, 'login set a sessionid cookie');
    assert.ok(csrfToken, 'login set a csrftoken cookie');
    const cookies = { sessionid: sessionId, csrftoken: csrfToken };

    const checked = await send(action(server.url, 'check_login', { cookies }));
    assert.equal(checked.status, 200);

    const wrongCsrf = await send(action(server.url, 'logout', { cookies, headers: { 'X-CSRFToken': confirmCsrfToken } }));
    assert.equal(wrongCsrf.status, 403);
    const logout = await send(action(server.url, 'logout', { cookies, headers: { 'X-CSRFToken': csrfToken } }));
    assert.equal(logout.status, 200);

    const wrongPassword = 'Wrong-Password-Never-Logged';
    const failedLogin = await send(action(server.url, 'login', { body: { username: email, password: wrongPassword } }));
    assert.equal(failedLogin.status, 401);

    const basic = Buffer.from(`${email}:${PASSWORD}`, 'utf8').toString('base64');
    const byBasic = await send(action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: `Basic ${basic}` } }));
    assert.equal(byBasic.status, 200);
    const wrongBasic = Buffer.from(`${email}:${wrongPassword}`, 'utf8').toString('base64');
    const byWrongBasic = await send(action(server.url, 'check_login', { headers: { Authorization: `Basic ${wrongBasic}` } }));
    assert.equal(byWrongBasic.status, 401);

    const badEmail = `${email}>`;
    const rejectedCreate = await send(action(server.url, 'create', { body: { email: badEmail } }));
    assert.equal(rejectedCreate.status, 400);

    const wrongMethod = await send(request(`${server.url}/api/2.0/accounts/action/?do=login`, { method: 'GET' }));
    assert.equal(wrongMethod.status, 405);
    const unknownPath = await send(request(`${server.url}/api/2.0/no-such-resource/`, { method: 'GET' }));
    assert.equal(unknownPath.status, 404);

    await waitUntil(
      () => completedLines(server).length >= responses.length,
      `${responses.length} "request completed" lines are written`,
      5000,
    );

    const secrets: Record<string, string> = {
      password: PASSWORD,
      'rejected password': rejectedPassword,
      'wrong password': wrongPassword,
      'confirmation token': token,
      'session id from confirm': confirmSessionId,
      'CSRF token from confirm': confirmCsrfToken,
      'session id from login': sessionId,
      'CSRF token from login': csrfToken,
      'Basic credentials': basic,
      'wrong Basic credentials': wrongBasic,
      'email address': email,
      'local part of the email address': email.slice(0, email.indexOf('@')),
    };
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(secret.length > 0, `${name} is known`);
      const leaks = server.logLines.filter((line) => line.includes(secret));
      assert.deepEqual(leaks, [], `log lines containing the ${name}`);
    }

    const completed = completedLines(server);
    assert.equal(completed.length, responses.length, 'one "request completed" line per request');
    for (const response of responses) {
      const requestId = response.headers.get('x-request-id');
      assert.ok(requestId, `response ${response.status} has X-REQUEST-ID`);

      const lines = completed.filter((entry) => entry.reqId === requestId);
      assert.equal(lines.length, 1, `"request completed" lines for request ${requestId}`);
      assert.equal(lines[0]?.statusCode, response.status, `status logged for request ${requestId}`);
    }
  });
});

function completedLines(server: TestServer): LogEntry[] {
  return server.logLines.map((line) => JSON.parse(line) as LogEntry).filter((entry) => entry.msg === 'request completed');
}

/** Removes the colour codes that pino-pretty writes to a terminal. */
function withoutColours(line: string): string {
  return line.replace(/\u001b\[[0-9;]*m/g, '');
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/** Starts `node dist/main.js serve` over a fresh database of the store under test. */
async function startProcess(settings: Record<string, string>): Promise<ServerProcess> {
  const dataDir = tempDataDir();
  await ensureDatabase(dataDir);
  return startServerProcess({ DATA_DIR: dataDir, DATABASE_URL: databaseUrlFor(dataDir), ...settings });
}

/** Sends one request that is logged as rejected and completed, then stops the process and waits for its exit. */
async function oneRequestThenStop(server: ServerProcess): Promise<void> {
  const response = await action(server.url, 'check_login');
  assert.equal(response.status, 401);
  await waitUntil(() => server.logLines.some((line) => line.includes('request completed')), 'the request is logged');
  await server.stop();
  assert.equal((await server.exited).code, 0, server.stderr());
}

describe('log format', () => {
  test('auto is pretty only on a terminal', () => {
    assert.equal(loadConfig({}).logFormat, 'auto');
    assert.equal(chooseLogFormat('auto', true), 'pretty');
    assert.equal(chooseLogFormat('auto', false), 'json');
    assert.equal(chooseLogFormat('json', true), 'json');
    assert.equal(chooseLogFormat('pretty', false), 'pretty');
  });

  test('pretty lines are readable and leak no secret', async () => {
    const smtp = new SmtpSink();
    const server = await startTestServer({ SMTP_URL: await smtp.start(), LOG_FORMAT: 'pretty', LOG_LEVEL: 'trace' });
    try {
      const account = await activeAccount(server.url, smtp);
      const login = await action(server.url, 'login', { body: { username: account.email, password: account.password } });
      assert.equal(login.status, 200);
      const cookies = { sessionid: login.cookies.sessionid?.value ?? '', csrftoken: login.cookies.csrftoken?.value ?? '' };
      const checked = await action(server.url, 'check_login', { cookies });
      assert.equal(checked.status, 200);
      const wrongBasic = Buffer.from(`${account.email}:Wrong-Password-Never-Logged`, 'utf8').toString('base64');
      const rejected = await action(server.url, 'check_login', { headers: { Authorization: `Basic ${wrongBasic}` } });
      assert.equal(rejected.status, 401);

      const requestId = checked.headers.get('x-request-id') ?? '';
      await waitUntil(() => server.logLines.some((line) => line.includes(requestId) && line.includes('request completed')), 'check_login is logged');

      const lines = server.logLines.map(withoutColours);
      assert.deepEqual(lines.filter(isJson), [], 'JSON lines');
      assert.deepEqual(lines.filter((line) => !PRETTY_LINE.test(line)), [], 'lines that are not pretty');
      const completed = lines.find((line) => line.includes(requestId) && line.includes('request completed'));
      assert.match(completed ?? '', / INFO \(\d+\): request completed /);

      const secrets = {
        password: account.password,
        'wrong Basic credentials': wrongBasic,
        'session id': cookies.sessionid,
        'CSRF token': cookies.csrftoken,
        'email address': account.email,
      };
      for (const [name, secret] of Object.entries(secrets)) {
        assert.ok(secret.length > 0, `${name} is known`);
        assert.deepEqual(lines.filter((line) => line.includes(secret)), [], `log lines containing the ${name}`);
      }
    } finally {
      await server.stop();
      await smtp.stop();
    }
  });

  test('pretty process writes its last line at exit', async () => {
    const server = await startProcess({ LOG_FORMAT: 'pretty' });
    await oneRequestThenStop(server);

    const lines = server.logLines.map(withoutColours);
    assert.deepEqual(lines.filter(isJson), [], 'JSON lines');
    assert.ok(lines.some((line) => / INFO \(\d+\): request completed /.test(line)), lines.join('\n'));
    assert.match(lines.at(-1) ?? '', / INFO \(\d+\): sigma-accounts stopped$/);
  });

  test('json process writes JSON lines', async () => {
    const server = await startProcess({ LOG_FORMAT: 'json' });
    await oneRequestThenStop(server);

    assert.deepEqual(server.logLines.filter((line) => !isJson(line)), []);
    assert.equal((JSON.parse(server.logLines.at(-1) ?? '{}') as LogEntry).msg, 'sigma-accounts stopped');
  });

  test('auto writes JSON to a pipe', async () => {
    const server = await startProcess({});
    await oneRequestThenStop(server);

    assert.deepEqual(server.logLines.filter((line) => !isJson(line)), []);
    assert.ok(server.logLines.some((line) => (JSON.parse(line) as LogEntry).msg === 'request completed'));
  });

  test('auto writes pretty lines to a terminal', { skip: !fs.existsSync('/usr/bin/script') && 'needs script from util-linux' }, async () => {
    const dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    try {
      // script runs the command on a pseudo-terminal, so that its standard output is a TTY.
      const command = `'${process.execPath}' '${CLI}' migrate`;
      const child = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, DATABASE_URL: databaseUrlFor(dataDir) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

      assert.equal(code, 0, output);
      const lines = output.split(/\r?\n/).map(withoutColours).filter(Boolean);
      assert.ok(lines.length > 0, 'the command wrote a line');
      assert.deepEqual(lines.filter(isJson), [], 'JSON lines');
      assert.match(lines.at(-1) ?? '', / INFO \(\d+\): migrations applied /);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('bad LOG_FORMAT or LOG_LEVEL stops the start', () => {
    const cases = [
      { setting: { LOG_FORMAT: 'yaml' }, message: 'sigma-accounts: invalid setting: LOG_FORMAT must be one of: auto, json, pretty' },
      { setting: { LOG_LEVEL: 'verbose' }, message: 'sigma-accounts: invalid setting: LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent' },
    ];
    for (const { setting, message } of cases) {
      const dataDir = tempDataDir();
      const result = spawnSync(process.execPath, [CLI, 'serve'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, ...setting },
        encoding: 'utf8',
        timeout: 20_000,
      });
      fs.rmSync(dataDir, { recursive: true, force: true });

      assert.equal(result.status, 2, JSON.stringify(setting));
      assert.equal(result.stderr, `${message}\n`);
      assert.equal(result.stdout, '');
    }
  });

  test('WORKERS=2 writes pretty lines from each worker', async () => {
    const server = await startProcess({ WORKERS: '2', LOG_FORMAT: 'pretty' });
    const pidsOf = (message: string) =>
      server.logLines.map(withoutColours).flatMap((line) => {
        const match = PRETTY_LINE.exec(line);
        return match?.[3]?.startsWith(message) ? [Number(match[2])] : [];
      });

    await waitUntil(() => new Set(pidsOf('sigma-accounts started')).size === 2, 'both workers started');
    const responses = await Promise.all(Array.from({ length: 6 }, () => action(server.url, 'check_login')));
    assert.deepEqual([...new Set(responses.map((response) => response.status))], [401]);
    await server.stop();
    assert.equal((await server.exited).code, 0, server.stderr());

    const lines = server.logLines.map(withoutColours);
    assert.deepEqual(lines.filter((line) => !PRETTY_LINE.test(line)), [], 'lines that are not pretty');
    assert.deepEqual(new Set(pidsOf('sigma-accounts stopped')), new Set(pidsOf('sigma-accounts started')), 'each worker logged its stop');
    assert.match(lines.at(-1) ?? '', /: every worker stopped$/);
  });
});

describe('request ids', () => {
  let smtp: SmtpSink;
  let trusted: TestServer;
  let untrusted: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    // The Pwned Passwords check fails on a closed port and lets the password through with a warning.
    const closedPort = await freePort();
    trusted = await startTestServer({
      SMTP_URL: await smtp.start(),
      TRUSTED_PROXIES: '127.0.0.1',
      PWNED_PASSWORDS_URL: `http://127.0.0.1:${closedPort}/range/`,
    });
    untrusted = await startTestServer({ TRUSTED_PROXIES: '10.0.0.0/8' });
  });

  after(async () => {
    await trusted.stop();
    await untrusted.stop();
    await smtp.stop();
  });

  /** Returns the parsed log lines of one request id. */
  function linesOf(server: TestServer, requestId: string): LogEntry[] {
    return server.logLines.map((line) => JSON.parse(line) as LogEntry).filter((entry) => entry.reqId === requestId);
  }

  test('trusted proxy id is used', async () => {
    const requestId = `edge-${randomUUID()}_~.1`;
    const response = await action(trusted.url, 'check_login', { headers: { 'X-Request-ID': requestId } });

    assert.equal(response.status, 401);
    assert.equal(response.headers.get('x-request-id'), requestId);
    await waitUntil(() => linesOf(trusted, requestId).some((entry) => entry.msg === 'request completed'), 'the request is logged');
    assert.deepEqual(
      linesOf(trusted, requestId).map((entry) => entry.msg),
      ['request rejected', 'request completed'],
    );
  });

  test('id of 128 characters is the longest kept', async () => {
    const longest = randomBytes(96).toString('base64url');
    assert.equal(longest.length, 128);
    const withLongest = await action(trusted.url, 'check_login', { headers: { 'X-Request-ID': longest } });
    assert.equal(withLongest.headers.get('x-request-id'), longest);

    const tooLong = `${longest}b`;
    const replaced = await action(trusted.url, 'check_login', { headers: { 'X-Request-ID': tooLong } });
    assert.match(replaced.headers.get('x-request-id') ?? '', UUID);
    assert.deepEqual(linesOf(trusted, tooLong), []);
  });

  test('malformed id is ignored', async () => {
    const malformed = ['two words', 'a,b', 'quote"d', 'semi;colon', 'slash/1', 'colon:1', '(paren)', 'at@sign', 'brace{1}', 'caf\u00e9'];
    for (const value of malformed) {
      const response = await action(trusted.url, 'check_login', { headers: { 'X-Request-ID': value } });
      assert.equal(response.status, 401);
      assert.match(response.headers.get('x-request-id') ?? '', UUID, `response to X-Request-ID ${JSON.stringify(value)}`);
    }

    // A repeated header arrives joined by a comma, and is not one token.
    const repeated = await new Promise<string | undefined>((resolve, reject) => {
      const outgoing = http.request(`${trusted.url}/api/2.0/accounts/action/?do=check_login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Request-ID': ['first-id', 'second-id'] },
      });
      outgoing.on('response', (incoming) => {
        incoming.resume();
        resolve(incoming.headers['x-request-id'] as string | undefined);
      });
      outgoing.on('error', reject);
      outgoing.end('{}');
    });
    assert.match(repeated ?? '', UUID);
  });

  test('untrusted peer id is ignored', async () => {
    const requestId = `spoofed-${randomUUID()}`;
    const response = await action(untrusted.url, 'check_login', { headers: { 'X-Request-ID': requestId } });

    assert.equal(response.status, 401);
    const used = response.headers.get('x-request-id') ?? '';
    assert.match(used, UUID);
    await waitUntil(() => linesOf(untrusted, used).some((entry) => entry.msg === 'request completed'), 'the request is logged');
    assert.deepEqual(linesOf(untrusted, requestId), []);
  });

  test('service warning carries the request id', async () => {
    const email = uniqueAddress('pwned-warning');
    const { token } = await signUp(trusted.url, smtp, email);
    const requestId = `confirm-${randomUUID()}`;
    const confirmed = await action(trusted.url, 'confirm', { body: { token, password: PASSWORD }, headers: { 'X-Request-ID': requestId } });

    assert.equal(confirmed.status, 200, confirmed.text);
    await waitUntil(() => linesOf(trusted, requestId).some((entry) => entry.msg === 'request completed'), 'confirm is logged');
    const warnings = linesOf(trusted, requestId).filter((entry) => entry.msg === 'Pwned Passwords check failed');
    assert.equal(warnings.length, 1, trusted.logLines.filter((line) => line.includes('Pwned')).join('\n'));
  });

  test('5xx error list quotes the request id', async () => {
    const server = await startTestServer({ TRUSTED_PROXIES: '127.0.0.1' });
    try {
      // Without its table, the session lookup fails with an error that is no outage: a 500.
      await sqlRows(server.dataDir, 'ALTER TABLE sessions RENAME TO sessions_hidden');
      const requestId = `broken-${randomUUID()}`;
      const response = await action(server.url, 'check_login', {
        cookies: { sessionid: randomBytes(32).toString('base64url') },
        headers: { 'X-Request-ID': requestId },
      });

      assert.equal(response.status, 500, response.text);
      assert.equal(response.headers.get('x-request-id'), requestId);
      const [entry] = response.body as Array<{ error_type: string; error_message: string }>;
      assert.equal(entry?.error_type, 'backend');
      assert.equal(entry?.error_message, `internal error; quote request id ${requestId} when reporting it`);
      await waitUntil(() => linesOf(server, requestId).some((line) => line.msg === 'request failed'), 'the failure is logged');
    } finally {
      await server.stop();
    }
  });
});
