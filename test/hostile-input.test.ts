import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { ParsedMail } from 'mailparser';

import { ConfigError, loadConfig } from '../src/config.js';
import { BODY_PARSE_CHANNEL } from '../src/http/json-body.js';
import { MAX_JSON_DEPTH } from '../src/http/json-structure.js';
import { MAX_HEADER_BYTES, MAX_URL_BYTES } from '../src/http/request-limits.js';
import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, errorPoints, request } from './helpers/client.js';
import { startTestServer, tempDataDir, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Sends raw bytes over one TCP connection and returns everything the server wrote back. */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/**
 * Writes `head` at once, then `trickle` one byte a second, until the server closes the connection or
 * `giveUpMs` passes. Returns what the server wrote and when the connection closed, or null for never.
 */
function slowClient(url: string, head: string, trickle: string, giveUpMs: number): Promise<{ reply: string; closedAfterMs: number | null }> {
  const { hostname, port } = new URL(url);
  const started = Date.now();

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(head);
      timer = setInterval(() => {
        if (sent < trickle.length && !socket.destroyed) socket.write(trickle[sent++] ?? '');
      }, 1000);
    });

    const giveUp = setTimeout(() => finish(null), giveUpMs);
    const finish = (closedAfterMs: number | null) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks).toString('utf8'), closedAfterMs });
    };

    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => finish(Date.now() - started));
    socket.on('error', () => {});
  });
}

function rawJson(name: string, url: string, raw: string): Promise<ApiResponse> {
  return action(url, name, { body: undefined, raw, headers: JSON_HEADERS });
}

function firstMessage(response: ApiResponse): string {
  return errorList(response)[0]?.error_message ?? '';
}

/** Maps printable ASCII to its fullwidth form (U+FF01 to U+FF5E), which NFKC maps back. */
function fullwidth(text: string): string {
  return [...text].map((character) => (character >= '!' && character <= '~' ? String.fromCodePoint(character.codePointAt(0)! + 0xfee0) : character)).join('');
}

function recipientsOf(mail: ParsedMail): string[] {
  const groups = mail.to === undefined ? [] : [mail.to].flat();
  return groups.flatMap((group) => group.value.map((entry) => entry.address ?? ''));
}

function hasAttribute(attributes: string | undefined, name: string): boolean {
  return (attributes ?? '').split(';').some((part) => part.trim() === name);
}

describe('hostile JSON bodies', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start() });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('duplicate key names the key', async () => {
    const email = uniqueAddress('duplicate');
    const response = await rawJson('create', server.url, `{"email": "${email}", "email": "other@example.com"}`);

    assert.equal(response.status, 400);
    assert.deepEqual(errorPoints(response), ['email']);
    assert.match(firstMessage(response), /"email" more than once/);
    assert.equal((await sqlRows(server.dataDir, 'SELECT uuid FROM accounts WHERE email_key = ?', [email])).length, 0);
  });

  test('duplicate key after unescaping', async () => {
    const response = await rawJson('login', server.url, '{"username": "a@example.com", "password": "x", "\\u0070assword": "y"}');

    assert.equal(response.status, 400);
    assert.deepEqual(errorPoints(response), ['password']);
  });

  test('nested duplicate key has path', async () => {
    const response = await rawJson('check_login', server.url, '{"outer": [{"inner": 1}, {"inner": 2, "inner": 3}]}');

    assert.equal(response.status, 400);
    assert.deepEqual(errorPoints(response), ['outer.1.inner']);
  });

  test('same key in sibling objects allowed', async () => {
    // Reaches the schema, which rejects the unknown field: the parser found no duplicate.
    const response = await rawJson('check_login', server.url, '{"outer": [{"inner": 1}, {"inner": 2}]}');

    assert.equal(response.status, 400);
    assert.match(firstMessage(response), /not a known field/);
  });

  test('deep nesting is 400, not 500', async () => {
    for (const depth of [MAX_JSON_DEPTH + 1, 20_000]) {
      const response = await rawJson('check_login', server.url, `{"a": ${'['.repeat(depth)}${']'.repeat(depth)}}`);

      assert.equal(response.status, 400, `depth ${depth}: ${response.text}`);
      assert.match(firstMessage(response), new RegExp(`more than ${MAX_JSON_DEPTH} levels`));
    }
  });

  test('NUL in a field is 400 on it', async () => {
    const create = await action(server.url, 'create', { body: { email: 'nul\u0000@example.com' } });
    assert.equal(create.status, 400);
    assert.deepEqual(errorPoints(create), ['email']);
    assert.match(firstMessage(create), /control character U\+0000/);

    // Without the check, login would return 401 for a password that no account can have.
    const login = await action(server.url, 'login', { body: { username: 'a@example.com', password: 'long enough\u0000' } });
    assert.equal(login.status, 400);
    assert.deepEqual(errorPoints(login), ['password']);
  });

  test('each control character field reported', async () => {
    const response = await action(server.url, 'confirm', { body: { token: 'abc\u0007def', password: 'tab\there-is-long' } });

    assert.equal(response.status, 400);
    assert.deepEqual(errorPoints(response).sort(), ['password', 'token']);
    const messages = errorList(response).map((entry) => entry.error_message).join('\n');
    assert.match(messages, /U\+0007/);
    assert.match(messages, /U\+0009/);
  });

  test('whitespace around an address trimmed', async () => {
    const created = await action(server.url, 'create', { body: { email: ` \t${uniqueAddress('trimmed')}\r\n` } });
    assert.equal(created.status, 200, created.text);

    const inside = await action(server.url, 'create', { body: { email: `tab\t${uniqueAddress('inside')}` } });
    assert.equal(inside.status, 400);
    assert.match(firstMessage(inside), /control character U\+0009/);

    const password = await action(server.url, 'login', { body: { username: 'a@example.com', password: '\tlong enough password' } });
    assert.equal(password.status, 400, 'passwords are used as sent, so no control character is trimmed');
    assert.deepEqual(errorPoints(password), ['password']);
  });

  test('C1 controls and DEL rejected', async () => {
    for (const promo of ['CODE\u0085', 'CODE\u007f', 'CODE\n']) {
      const response = await action(server.url, 'create', { body: { email: uniqueAddress('c1'), promo } });
      assert.equal(response.status, 400, JSON.stringify(promo));
      assert.deepEqual(errorPoints(response), ['promo'], JSON.stringify(promo));
    }
  });

  test('body parsed once per request', async () => {
    const parses = new Map<string, number>();
    const onParse = (message: unknown) => {
      const id = (message as { request: { id: string } }).request.id;
      parses.set(id, (parses.get(id) ?? 0) + 1);
    };
    diagnosticsChannel.subscribe(BODY_PARSE_CHANNEL, onParse);

    try {
      const account = await activeAccount(server.url, smtp);
      const csrf = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };
      const requests: Array<[label: string, send: () => Promise<ApiResponse>]> = [
        ['create', () => action(server.url, 'create', { body: { email: uniqueAddress('once') } })],
        ['login', () => action(server.url, 'login', { body: { username: account.email, password: PASSWORD } })],
        ['failed login', () => action(server.url, 'login', { body: { username: account.email, password: 'wrong password' } })],
        ['check_login_with_return_uuid', () => action(server.url, 'check_login_with_return_uuid', { body: { username: account.email, password: PASSWORD } })],
        ['request_password_reset', () => action(server.url, 'request_password_reset', { body: { email: account.email } })],
        ['change_password', () => action(server.url, 'change_password', { body: { old_password: 'wrong', new_password: 'x' }, cookies: account.cookies, headers: csrf })],
        ['duplicate key', () => rawJson('login', server.url, '{"username": "a", "username": "b"}')],
        ['invalid JSON', () => rawJson('login', server.url, '{"username": ')],
        ['profile', () => request(`${server.url}/api/2.0/profile/`, { method: 'PUT', body: { first_name: 'Ada' }, cookies: account.cookies, headers: csrf })],
      ];

      for (const [label, send] of requests) {
        const response = await send();
        const id = response.headers.get('x-request-id') ?? '';
        assert.equal(parses.get(id), 1, `${label}: ${response.status} ${response.text.slice(0, 200)}`);
      }

      const bodiless = await request(`${server.url}/health/live`, { method: 'GET' });
      assert.equal(parses.get(bodiless.headers.get('x-request-id') ?? ''), undefined);
    } finally {
      diagnosticsChannel.unsubscribe(BODY_PARSE_CHANNEL, onParse);
    }
  });
});

describe('Unicode in addresses', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    // No mail throttle, so that a reset link can follow the confirmation email at once.
    server = await startTestServer({ SMTP_URL: await smtp.start(), MAIL_THROTTLE_SECONDS: '0' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  const rejected: Array<[label: string, email: string, message: RegExp]> = [
    ['fullwidth domain letter', 'ada@\uff45xample.com', /U\+FF45, a compatibility form of "e"/],
    ['fullwidth local part', '\uff41da@example.com', /U\+FF41, a compatibility form of "a"/],
    ['fullwidth at sign', 'ada\uff20example.com', /U\+FF20, a compatibility form of "@"/],
    ['ligature', 'o\ufb03ce@example.com', /U\+FB03, a compatibility form of "ffi"/],
    ['zero width space', 'ada@exa\u200bmple.com', /invisible character U\+200B/],
    ['soft hyphen', 'ada@exam\u00adple.com', /invisible character U\+00AD/],
    ['zero width joiner', 'ad\u200da@example.com', /invisible character U\+200D/],
    ['combining accent', 'ada@e\u0301xample.com', /combining mark/],
  ];

  for (const [label, email, message] of rejected) {
    test(`create rejects ${label}`, async () => {
      const response = await action(server.url, 'create', { body: { email } });

      assert.equal(response.status, 400, response.text);
      assert.deepEqual(errorPoints(response), ['email']);
      assert.match(firstMessage(response), message);
    });
  }

  test('email stored as typed, key folded', async () => {
    const typed = `Mixed.Case.${process.pid}.${Date.now()}@Example.COM`;
    const { uuid } = await signUp(server.url, smtp, typed);

    const [row] = await sqlRows<{ email: string; email_key: string }>(server.dataDir, 'SELECT email, email_key FROM accounts WHERE uuid = ?', [uuid]);
    assert.equal(row?.email, typed.replace('@Example.COM', '@example.com'));
    assert.equal(row?.email_key, typed.toLowerCase());

    const again = await action(server.url, 'create', { body: { email: typed.toUpperCase() } });
    assert.equal(again.status, 200);
    const rows = await sqlRows(server.dataDir, 'SELECT uuid FROM accounts WHERE email_key = ?', [typed.toLowerCase()]);
    assert.equal(rows.length, 1);
  });

  test('look-alike login finds the account', async () => {
    const account = await activeAccount(server.url, smtp, uniqueAddress('lookalike'));
    const [localPart = '', domain = ''] = account.email.split('@');
    const variant = `${fullwidth(localPart.toUpperCase())}\uff20${domain}`;

    const login = await action(server.url, 'login', { body: { username: variant, password: PASSWORD } });
    assert.equal(login.status, 200, login.text);
    assert.deepEqual(login.body, { uuid: account.uuid });
  });

  test('look-alike reset mails stored address', async () => {
    const stored = uniqueAddress('Reset.Target');
    const account = await activeAccount(server.url, smtp, stored);
    const [localPart = '', domain = ''] = account.email.split('@');
    const variant = `${fullwidth(localPart.toLowerCase())}@${fullwidth(domain)}`;

    const requested = await action(server.url, 'request_password_reset', { body: { email: variant } });
    assert.equal(requested.status, 200, requested.text);

    const mails = await smtp.waitFor(stored, 2);
    assert.deepEqual(recipientsOf(mails[1]!), [stored]);
    const outbox = await sqlRows<{ recipient: string }>(server.dataDir, 'SELECT recipient FROM outbox WHERE lower(recipient) = ?', [stored.toLowerCase()]);
    assert.deepEqual(
      outbox.map((row) => row.recipient),
      [stored, stored],
    );
  });
});

describe('request size limits and slow clients', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ HEADERS_TIMEOUT_MS: '2000', REQUEST_TIMEOUT_MS: '3000', BODY_LIMIT_BYTES: '4096' });
  });

  after(async () => {
    await server.stop();
  });

  test('long URL gets 414', async () => {
    const path = '/health/live?pad=';
    const within = await request(`${server.url}${path}${'a'.repeat(MAX_URL_BYTES - path.length)}`, { method: 'GET' });
    assert.equal(within.status, 200);

    const over = await request(`${server.url}${path}${'a'.repeat(MAX_URL_BYTES - path.length + 1)}`, { method: 'GET' });
    assert.equal(over.status, 414);
    assert.match(firstMessage(over), new RegExp(`limit of ${MAX_URL_BYTES} bytes`));
    assert.ok(over.headers.get('x-request-id'));
  });

  test('header limit is MAX_HEADER_BYTES', async () => {
    const head = (size: number) => `GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ${'a'.repeat(size)}\r\n\r\n`;

    assert.match(await rawExchange(server.url, head(MAX_HEADER_BYTES - 200)), /^HTTP\/1\.1 200 /);
    assert.match(await rawExchange(server.url, head(MAX_HEADER_BYTES)), /^HTTP\/1\.1 431 /);
  });

  test('body over BODY_LIMIT_BYTES gets 413', async () => {
    const response = await action(server.url, 'create', { body: { email: 'a@example.com', promo: 'p'.repeat(5000) } });

    assert.equal(response.status, 413);
    assert.match(firstMessage(response), /4096 bytes/);
  });

  test('slow headers cut off', async () => {
    // HEADERS_TIMEOUT_MS is 2 s, and Node checks it every second. Node's default check interval alone is 30 s.
    const head = 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n';
    const { reply, closedAfterMs } = await slowClient(server.url, '', `${head}X-Slow: ${'a'.repeat(60)}`, 8000);

    assert.notEqual(closedAfterMs, null, 'the connection was still open after 8 s');
    assert.ok(closedAfterMs! >= 2000, `closed after ${closedAfterMs} ms, before the timeout`);
    assert.ok(closedAfterMs! < 5500, `closed after ${closedAfterMs} ms`);
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.match(reply, /"error_type":"validation"/);
  });

  test('slow body cut off', async () => {
    const head = [
      'POST /api/2.0/accounts/action/?do=check_login HTTP/1.1',
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      'Content-Length: 100',
      '',
      '',
    ].join('\r\n');
    const { closedAfterMs } = await slowClient(server.url, head, ' '.repeat(100), 9000);

    assert.notEqual(closedAfterMs, null, 'the connection was still open after 9 s');
    assert.ok(closedAfterMs! < 6000, `closed after ${closedAfterMs} ms`);
  });
});

describe('session cookies', () => {
  let smtp: SmtpSink;
  let proxied: TestServer;
  let prefixed: TestServer;
  const PUBLIC_URL = 'https://accounts.example.test';

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    proxied = await startTestServer({ SMTP_URL: smtpUrl, TRUSTED_PROXIES: '127.0.0.1' });
    prefixed = await startTestServer({ SMTP_URL: smtpUrl, TRUSTED_PROXIES: '127.0.0.1', COOKIE_HOST_PREFIX: 'on', PUBLIC_URL });
  });

  after(async () => {
    await proxied.stop();
    await prefixed.stop();
    await smtp.stop();
  });

  test('Secure only over HTTPS', async () => {
    const account = await activeAccount(proxied.url, smtp);
    const credentials = { username: account.email, password: PASSWORD };

    const viaHttps = await action(proxied.url, 'login', { body: credentials, headers: { 'X-Forwarded-Proto': 'https' } });
    assert.equal(viaHttps.status, 200);
    assert.ok(hasAttribute(viaHttps.cookies.sessionid?.attributes, 'secure'), viaHttps.cookies.sessionid?.attributes);
    assert.ok(hasAttribute(viaHttps.cookies.csrftoken?.attributes, 'secure'), viaHttps.cookies.csrftoken?.attributes);

    const viaHttp = await action(proxied.url, 'login', { body: credentials });
    assert.equal(viaHttp.status, 200);
    assert.ok(!hasAttribute(viaHttp.cookies.sessionid?.attributes, 'secure'));
    assert.ok(!hasAttribute(viaHttp.cookies.csrftoken?.attributes, 'secure'));
  });

  test('untrusted X-Forwarded-Proto ignored', async () => {
    const server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
    try {
      const account = await activeAccount(server.url, smtp);
      const login = await action(server.url, 'login', {
        body: { username: account.email, password: PASSWORD },
        headers: { 'X-Forwarded-Proto': 'https' },
      });

      assert.equal(login.status, 200);
      assert.ok(!hasAttribute(login.cookies.sessionid?.attributes, 'secure'));
    } finally {
      await server.stop();
    }
  });

  test('__Host- names with the prefix on', async () => {
    const account = await activeAccount(prefixed.url, smtp);
    const login = await action(prefixed.url, 'login', {
      body: { username: account.email, password: PASSWORD },
      headers: { 'X-Forwarded-Proto': 'https' },
    });

    assert.equal(login.status, 200);
    assert.deepEqual(Object.keys(login.cookies).sort(), ['__Host-csrftoken', '__Host-sessionid']);
    for (const [name, cookie] of Object.entries(login.cookies)) {
      assert.ok(hasAttribute(cookie.attributes, 'secure'), `${name}: ${cookie.attributes}`);
      assert.ok(hasAttribute(cookie.attributes, 'path=/'), `${name}: ${cookie.attributes}`);
      assert.doesNotMatch(cookie.attributes, /domain=/, name);
    }
  });

  test('prefixed cookies Secure over HTTP too', async () => {
    const account = await activeAccount(prefixed.url, smtp);
    const login = await action(prefixed.url, 'login', { body: { username: account.email, password: PASSWORD } });

    assert.ok(hasAttribute(login.cookies['__Host-sessionid']?.attributes, 'secure'));
    assert.ok(hasAttribute(login.cookies['__Host-csrftoken']?.attributes, 'secure'));
  });

  test('prefix on reads only __Host- names', async () => {
    const account = await activeAccount(prefixed.url, smtp);
    const sessionId = account.cookies['__Host-sessionid'] ?? '';
    const csrfToken = account.cookies['__Host-csrftoken'] ?? '';
    assert.notEqual(sessionId, '');

    assert.equal((await action(prefixed.url, 'check_login', { cookies: { '__Host-sessionid': sessionId } })).status, 200);
    assert.equal((await action(prefixed.url, 'check_login', { cookies: { sessionid: sessionId } })).status, 401);

    const https = { 'X-Forwarded-Proto': 'https', Origin: PUBLIC_URL };
    const withoutToken = await action(prefixed.url, 'logout', { cookies: { '__Host-sessionid': sessionId }, headers: https });
    assert.equal(withoutToken.status, 403);
    assert.match(firstMessage(withoutToken), /__Host-csrftoken/);

    const logout = await action(prefixed.url, 'logout', {
      cookies: { '__Host-sessionid': sessionId, '__Host-csrftoken': csrfToken },
      headers: { ...https, 'X-CSRFToken': csrfToken },
    });
    assert.equal(logout.status, 200);
    assert.equal(logout.cookies['__Host-sessionid']?.value, '');
    assert.match(logout.cookies['__Host-sessionid']?.attributes ?? '', /max-age=0/);
    assert.equal((await action(prefixed.url, 'check_login', { cookies: { '__Host-sessionid': sessionId } })).status, 401);
  });
});

describe('settings for limits and cookies', () => {
  test('defaults', () => {
    const config = loadConfig({});

    assert.equal(config.requestTimeoutMs, 30_000);
    assert.equal(config.headersTimeoutMs, 10_000);
    assert.equal(config.connectionTimeoutMs, 60_000);
    assert.equal(config.cookieHostPrefix, false);
  });

  test('headers timeout within request timeout', () => {
    assert.throws(() => loadConfig({ HEADERS_TIMEOUT_MS: '40000' }), /HEADERS_TIMEOUT_MS must be at most REQUEST_TIMEOUT_MS/);
  });

  test('prefix needs https PUBLIC_URL', () => {
    assert.throws(
      () => loadConfig({ COOKIE_HOST_PREFIX: 'on', PUBLIC_URL: 'http://accounts.example.test' }),
      (error: unknown) => error instanceof ConfigError && /COOKIE_HOST_PREFIX=on requires an https:\/\/ PUBLIC_URL/.test(error.message),
    );
    assert.throws(() => loadConfig({ COOKIE_HOST_PREFIX: 'on' }), ConfigError);
    assert.equal(loadConfig({ COOKIE_HOST_PREFIX: 'on', PUBLIC_URL: 'https://accounts.example.test' }).cookieHostPrefix, true);
  });

  test('server refuses prefix over http', async () => {
    const cli = path.join(REPO_ROOT, 'dist', 'main.js');
    const dataDir = tempDataDir();
    const child = spawn(process.execPath, [cli, 'serve'], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, COOKIE_HOST_PREFIX: 'on' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });

    assert.equal(code, 2);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, /^sigma-accounts: invalid setting: COOKIE_HOST_PREFIX=on requires an https:\/\/ PUBLIC_URL/);
  });
});

describe('dependency audit step', () => {
  let fakeBin: string;

  // A stand-in for npm that checks how it was called and prints what the mode in FAKE_AUDIT selects.
  const FAKE_NPM = `#!/bin/sh
[ "$*" = "run --silent audit -- --json" ] || { echo "unexpected arguments: $*" >&2; exit 99; }
case "$FAKE_AUDIT" in
  advisory) printf '%s\\n' '{"auditReportVersion":2,"vulnerabilities":{"left-pad":{"name":"left-pad","severity":"critical","via":[{"title":"Prototype pollution","url":"https://example.test/advisory"}],"range":"<2.0.0"}},"metadata":{"vulnerabilities":{"info":0,"low":0,"moderate":0,"high":0,"critical":1,"total":1}}}'; exit 1;;
  http405) printf '%s\\n' '{"message":"405 Method Not Allowed - POST https://registry.example.test/-/npm/v1/security/advisories/bulk","statusCode":405,"body":"","error":{"summary":"","detail":""}}'; echo 'npm error audit endpoint returned an error' >&2; exit 1;;
  network) printf '%s\\n' '{"error":{"code":"ENOTFOUND","summary":"request failed, reason: getaddrinfo ENOTFOUND registry.example.test","detail":""}}'; exit 1;;
  clean) printf '%s\\n' '{"auditReportVersion":2,"vulnerabilities":{},"metadata":{"vulnerabilities":{"total":0}}}'; exit 0;;
esac
`;

  before(() => {
    fakeBin = fs.mkdtempSync(path.join(os.tmpdir(), 'sigma-accounts-fake-npm-'));
    fs.writeFileSync(path.join(fakeBin, 'npm'), FAKE_NPM, { mode: 0o755 });
  });

  after(() => {
    fs.rmSync(fakeBin, { recursive: true, force: true });
  });

  function runStep(mode: string): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, ['scripts/audit-or-skip.mjs'], {
      cwd: REPO_ROOT,
      env: { PATH: `${fakeBin}:${process.env.PATH ?? ''}`, FAKE_AUDIT: mode },
      encoding: 'utf8',
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  test('npm run audit script', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(manifest.scripts.audit, 'npm audit --omit=dev --audit-level=high');
    assert.match(fs.readFileSync(path.join(REPO_ROOT, '.ci', 'run'), 'utf8'), /^node scripts\/audit-or-skip\.mjs$/m);
  });

  test('critical advisory fails', () => {
    const run = runStep('advisory');

    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /left-pad <2\.0\.0 \[critical\]: Prototype pollution/);
  });

  test('no report is skipped in one line', () => {
    for (const [mode, reason] of [['http405', /HTTP 405 Method Not Allowed/], ['network', /ENOTFOUND/]] as const) {
      const run = runStep(mode);

      assert.equal(run.status, 0, `${mode}: ${run.stderr}`);
      assert.equal(run.stdout.trim().split('\n').length, 1, run.stdout);
      assert.match(run.stdout, /^== npm audit skipped: /, mode);
      assert.match(run.stdout, reason, mode);
    }
  });

  test('clean report passes', () => {
    const run = runStep('clean');

    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /no high or critical advisories/);
  });
});
