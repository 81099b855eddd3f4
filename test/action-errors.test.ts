import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import type { ParsedMail } from 'mailparser';

import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, type ErrorEntry, errorList, request, type RequestOptions } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';

const ACTION_PATH = '/api/2.0/accounts/action/';
const BODY_LIMIT_BYTES = 64 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ERROR_TYPES = ['validation', 'notexist', 'permission', 'backend', 'database', 'concurrency', 'billing', 'payment'];
const WRONG_PASSWORD = 'Wrong-Horse-Battery-77';

let smtp: SmtpSink;
let server: TestServer;

/** A response this file received, with the passwords and tokens its request carried. */
interface Exchange {
  label: string;
  response: ApiResponse;
  secrets: string[];
}

// Every request of this file is recorded so that the last tests can check properties of all responses.
const exchanges: Exchange[] = [];

function secretsOf(options: RequestOptions): string[] {
  const body = options.body;
  if (typeof body !== 'object' || body === null) return [];

  const fields = body as Record<string, unknown>;
  return [fields.password, fields.token].filter((value): value is string => typeof value === 'string' && value !== '');
}

/** POSTs the action `name` and records the exchange. */
async function post(name: string, options: RequestOptions = {}): Promise<ApiResponse> {
  const response = await action(server.url, name, options);
  exchanges.push({ label: `POST ?do=${name}`, response, secrets: secretsOf(options) });
  return response;
}

/** POSTs the action `name` with `raw` as the body, sent without JSON encoding. */
function postRaw(name: string, raw: string | Buffer | undefined, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return post(name, { body: undefined, raw, headers });
}

/** Sends a request to a path of the server (POST unless `options.method` names another method) and records the exchange. */
async function send(pathAndQuery: string, options: RequestOptions = {}): Promise<ApiResponse> {
  const response = await request(`${server.url}${pathAndQuery}`, options);
  exchanges.push({ label: `${options.method ?? 'POST'} ${pathAndQuery}`, response, secrets: secretsOf(options) });
  return response;
}

/** Asserts a CloudSigma error list with `status`, every entry of `errorType`, and exactly these error points. */
function assertErrors(response: ApiResponse, status: number, errorType: string, points: Array<string | null>): ErrorEntry[] {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${response.text.slice(0, 300)}`);
  assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.match(response.headers.get('x-request-id') ?? '', UUID);

  const entries = errorList(response);
  assert.deepEqual(
    entries.map((entry) => entry.error_type),
    entries.map(() => errorType),
  );
  assert.deepEqual(sortedPoints(entries.map((entry) => entry.error_point)), sortedPoints(points));
  for (const entry of entries) assert.notEqual(entry.error_message.trim(), '');
  return entries;
}

/** Checks whether the body is a non-empty list of entries with exactly the three fields, each of the right type. */
function isStrictErrorList(response: ApiResponse): boolean {
  let entries: ErrorEntry[];
  try {
    entries = errorList(response);
  } catch {
    return false;
  }

  return entries.every(
    (entry) =>
      ERROR_TYPES.includes(entry.error_type) &&
      typeof entry.error_message === 'string' &&
      (entry.error_point === null || typeof entry.error_point === 'string'),
  );
}

function describeExchange({ label, response }: Exchange): string {
  return `${label} -> ${response.status} ${response.text.slice(0, 200)}`;
}

function sortedPoints(points: Array<string | null>): Array<string | null> {
  return [...points].sort((left, right) => String(left).localeCompare(String(right)));
}

/** Asserts the 401 of a request without valid credentials: one permission entry and a Basic challenge. */
function assertNotAuthenticated(response: ApiResponse): void {
  assertErrors(response, 401, 'permission', [null]);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"/);
  assert.equal(response.cookies.sessionid, undefined);
  assert.equal(response.cookies.csrftoken, undefined);
}

/** Asserts a 200 whose body is `{}`. */
function assertEmptySuccess(response: ApiResponse): void {
  assert.equal(response.status, 200, response.text.slice(0, 300));
  assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(response.body, {});
}

/** Makes a value shaped like a real token or session id (256 random bits, URL-safe base64) that was never issued. */
function unissuedSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Sends `login` and counts the password verifications the server did for it. */
async function loginCounted(body: unknown): Promise<{ response: ApiResponse; verifications: number }> {
  const verificationsBefore = server.hasher.verifications;
  const response = await post('login', { body });
  return { response, verifications: server.hasher.verifications - verificationsBefore };
}

/** Logs in and returns the two session cookies. */
async function logIn(email: string, password = PASSWORD): Promise<{ sessionid: string; csrftoken: string }> {
  const response = await action(server.url, 'login', { body: { username: email, password } });
  assert.equal(response.status, 200, response.text);

  const sessionid = response.cookies.sessionid?.value ?? '';
  const csrftoken = response.cookies.csrftoken?.value ?? '';
  assert.notEqual(sessionid, '');
  assert.notEqual(csrftoken, '');
  return { sessionid, csrftoken };
}

/** Checks whether a session cookie still authenticates `check_login`. */
async function sessionIsLive(sessionid: string): Promise<boolean> {
  const response = await action(server.url, 'check_login', { cookies: { sessionid } });
  return response.status === 200;
}

/** Moves the expiry of every token of an account into the past in the server's database and counts the tokens changed. */
async function expireTokensOf(accountUuid: string): Promise<number> {
  const changed = await sqlRows(server.dataDir, 'UPDATE tokens SET expires_at = ? WHERE account_uuid = ? RETURNING digest', [
    Date.now() - 60_000,
    accountUuid,
  ]);
  return changed.length;
}

function recipientsOf(mail: ParsedMail): string[] {
  if (mail.to === undefined) return [];

  const groups = Array.isArray(mail.to) ? mail.to : [mail.to];
  return groups.flatMap((group) => group.value.map((entry) => entry.address ?? ''));
}

/** Makes a local part that no other test uses, padded with "x" to `length` characters. */
function uniqueLocalPart(length: number): string {
  const tag = uniqueAddress('pad').split('@')[0] ?? '';
  assert.ok(tag.length <= length);
  return tag.padEnd(length, 'x');
}

describe('account action errors', () => {
  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    // The mail throttle is off so that one address can get a second confirmation mail at once.
    server = await startTestServer({ SMTP_URL: smtpUrl, MAIL_THROTTLE_SECONDS: '0' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  describe('request body', () => {
    test('malformed JSON rejected', async () => {
      const response = await postRaw('create', '{"email": "ann@example.com"', { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('JSON array body rejected', async () => {
      const response = await postRaw('create', '[{"email": "ann@example.com"}]', { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('JSON string body rejected', async () => {
      const response = await postRaw('create', '"ann@example.com"', { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('JSON number body rejected', async () => {
      const response = await postRaw('logout', '42', { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('JSON null body rejected', async () => {
      const response = await postRaw('logout', 'null', { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('text/plain Content-Type rejected', async () => {
      const response = await postRaw('create', JSON.stringify({ email: uniqueAddress('plain') }), { 'Content-Type': 'text/plain' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('form-encoded body rejected', async () => {
      const response = await postRaw('create', 'email=ann%40example.com', { 'Content-Type': 'application/x-www-form-urlencoded' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('body without Content-Type rejected', async () => {
      const response = await postRaw('create', Buffer.from(JSON.stringify({ email: uniqueAddress('untyped') })));
      assertErrors(response, 400, 'validation', [null]);
    });

    test('charset parameter accepted', async () => {
      const response = await postRaw('logout', '{}', { 'Content-Type': 'application/json; charset=utf-8' });
      assertEmptySuccess(response);
    });

    test('__proto__ key rejected', async () => {
      const raw = `{"email": "${uniqueAddress('proto')}", "__proto__": {"admin": true}}`;
      const response = await postRaw('create', raw, { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('constructor.prototype key rejected', async () => {
      const raw = `{"email": "${uniqueAddress('ctor')}", "constructor": {"prototype": {"admin": true}}}`;
      const response = await postRaw('create', raw, { 'Content-Type': 'application/json' });
      assertErrors(response, 400, 'validation', [null]);
    });

    test('body over 64 KiB rejected', async () => {
      const raw = JSON.stringify({ email: uniqueAddress('large'), promo: 'p'.repeat(BODY_LIMIT_BYTES) });
      assert.ok(Buffer.byteLength(raw) > BODY_LIMIT_BYTES);

      const response = await postRaw('create', raw, { 'Content-Type': 'application/json' });
      const [entry] = assertErrors(response, 413, 'validation', [null]);
      assert.match(entry?.error_message ?? '', new RegExp(String(BODY_LIMIT_BYTES)));
    });

    test('empty JSON body acts as {}', async () => {
      const json = { 'Content-Type': 'application/json' };

      assertEmptySuccess(await postRaw('logout', '', json));
      assertNotAuthenticated(await postRaw('check_login', '', json));
      assertErrors(await postRaw('create', '', json), 400, 'validation', ['email']);
    });

    test('empty untyped body acts as {}', async () => {
      assertEmptySuccess(await postRaw('logout', undefined));
      assertNotAuthenticated(await postRaw('check_login', undefined));
      assertErrors(await postRaw('create', undefined), 400, 'validation', ['email']);
    });
  });

  describe('action routing', () => {
    test('unknown do rejected', async () => {
      const response = await post('delete_everything');
      assertErrors(response, 400, 'validation', ['do']);
    });

    test('missing do rejected', async () => {
      const response = await send(ACTION_PATH, { body: {} });
      assertErrors(response, 400, 'validation', ['do']);
    });

    test('empty do rejected', async () => {
      const response = await send(`${ACTION_PATH}?do=`, { body: {} });
      assertErrors(response, 400, 'validation', ['do']);
    });

    test('repeated do rejected', async () => {
      const response = await send(`${ACTION_PATH}?do=logout&do=check_login`, { body: {} });
      assertErrors(response, 400, 'validation', ['do']);
    });

    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      test(`do=${name} rejected`, async () => {
        const response = await post(name);
        assertErrors(response, 400, 'validation', ['do']);
      });
    }

    test('TRACE gets 405', async () => {
      // fetch refuses to send TRACE, so node:http sends it.
      const { status, allow, body } = await new Promise<{ status: number; allow: string; body: string }>((resolve, reject) => {
        const traced = http.request(`${server.url}${ACTION_PATH}?do=check_login`, { method: 'TRACE' }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, allow: String(response.headers.allow ?? ''), body: text }));
        });
        traced.on('error', reject);
        traced.end();
      });

      assert.equal(status, 405, body);
      assert.equal(allow, 'POST, OPTIONS');
      assert.equal((JSON.parse(body) as ErrorEntry[])[0]?.error_type, 'validation');
    });

    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      test(`${method} gets 405`, async () => {
        const response = await send(`${ACTION_PATH}?do=check_login`, { method });
        assertErrors(response, 405, 'validation', [null]);

        const allowed = (response.headers.get('allow') ?? '').split(',').map((entry) => entry.trim());
        assert.ok(allowed.includes('POST'), `Allow: ${allowed.join(', ')}`);
        assert.ok(!allowed.includes(method), `Allow: ${allowed.join(', ')}`);
      });
    }

    test('HEAD gets 405', async () => {
      const response = await send(`${ACTION_PATH}?do=check_login`, { method: 'HEAD' });
      assert.equal(response.status, 405);
      assert.match(response.headers.get('allow') ?? '', /\bPOST\b/);
      assert.match(response.headers.get('x-request-id') ?? '', UUID);
    });

    test('OPTIONS lists the methods', async () => {
      const response = await send(`${ACTION_PATH}?do=login`, { method: 'OPTIONS' });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('x-request-id') ?? '', UUID);

      const allowed = (response.headers.get('allow') ?? '').split(',').map((entry) => entry.trim());
      assert.ok(allowed.includes('POST'), `Allow: ${allowed.join(', ')}`);
      assert.ok(allowed.includes('OPTIONS'), `Allow: ${allowed.join(', ')}`);
      assert.notEqual(response.text, '');
    });

    test('path without final slash works', async () => {
      const response = await send('/api/2.0/accounts/action?do=logout', { body: {} });
      assertEmptySuccess(response);
    });

    const unknownPaths: Array<[string, string]> = [
      ['GET', '/api/2.0/nothing/'],
      ['POST', '/api/2.0/accounts/'],
      ['POST', '/api/2.0/accounts/action/extra/?do=login'],
      ['POST', '/api/2.1/accounts/action/?do=login'],
      ['GET', '/'],
    ];
    for (const [method, target] of unknownPaths) {
      test(`${method} ${target} gets 404`, async () => {
        const response = await send(target, method === 'GET' ? { method } : { method, body: {} });
        assertErrors(response, 404, 'notexist', [null]);
      });
    }

    test('404 message omits query string', async () => {
      const secret = unissuedSecret();
      const response = await send(`/api/2.0/nothing/?token=${secret}`, { method: 'GET' });

      const [entry] = assertErrors(response, 404, 'notexist', [null]);
      assert.ok(!entry?.error_message.includes(secret), entry?.error_message);
    });

    const malformedUrls: Array<[string, string]> = [
      ['truncated UTF-8 escape', '/api/2.0/accounts/action/%E0%A4%A?do=logout'],
      ['non-hex escape', '/api/2.0/%zz/'],
    ];
    for (const [name, target] of malformedUrls) {
      test(`URL with ${name} rejected`, async () => {
        const response = await send(target, { body: {} });
        assertErrors(response, 400, 'validation', [null]);
      });
    }

    test('unsupported Accept gets 406', async () => {
      const response = await post('logout', { headers: { Accept: 'text/html' } });
      assertErrors(response, 406, 'validation', [null]);
    });

    test('wildcard Accept accepted', async () => {
      const response = await post('logout', { headers: { Accept: '*/*' } });
      assertEmptySuccess(response);
    });
  });

  describe('create', () => {
    test('missing email rejected', async () => {
      const response = await post('create', { body: {} });
      assertErrors(response, 400, 'validation', ['email']);
    });

    test('numeric email rejected', async () => {
      const response = await post('create', { body: { email: 42 } });
      assertErrors(response, 400, 'validation', ['email']);
    });

    test('null email rejected', async () => {
      const response = await post('create', { body: { email: null } });
      assertErrors(response, 400, 'validation', ['email']);
    });

    test('several bad fields listed', async () => {
      const response = await post('create', { body: { email: ['ann@example.com'], promo: 7 } });
      assertErrors(response, 400, 'validation', ['email', 'promo']);
    });

    test('unknown field rejected', async () => {
      const response = await post('create', { body: { email: uniqueAddress('unknown-field'), name: 'Ann' } });
      assertErrors(response, 400, 'validation', ['name']);
    });

    test('promo over 64 characters rejected', async () => {
      const response = await post('create', { body: { email: uniqueAddress('promo'), promo: 'P'.repeat(65) } });
      assertErrors(response, 400, 'validation', ['promo']);
    });

    test('promo of 64 characters accepted', async () => {
      await sqlRows(server.dataDir, 'INSERT INTO promo_codes (code, created_at) VALUES (?, ?) ON CONFLICT (code) DO NOTHING', ['P'.repeat(64), Date.now()]);
      const response = await post('create', { body: { email: uniqueAddress('promo'), promo: 'P'.repeat(64) } });
      assert.equal(response.status, 200, response.text);
      assert.equal((response.body as { success: unknown }).success, true);
    });

    test('null promo accepted', async () => {
      const response = await post('create', { body: { email: uniqueAddress('promo'), promo: null } });
      assert.equal(response.status, 200, response.text);
      assert.equal((response.body as { success: unknown }).success, true);
      assert.match((response.body as { uuid: string }).uuid, UUID);
    });

    test('numeric promo rejected', async () => {
      const response = await post('create', { body: { email: uniqueAddress('promo'), promo: 2024 } });
      assertErrors(response, 400, 'validation', ['promo']);
    });

    const longDomain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(57)}.com`;
    const invalidAddresses: Array<[string, string]> = [
      ['without @', 'ann.example.com'],
      ['with empty local part', '@example.com'],
      ['with empty domain', 'ann@'],
      ['without dot in domain', 'ann@localhost'],
      ['with a space', 'ann lee@example.com'],
      ['with double dot', 'ann..lee@example.com'],
      ['with hyphen-led label', 'ann@-example.com'],
      ['with 65-octet local part', `${'a'.repeat(65)}@example.com`],
      ['of 255 octets', `${'a'.repeat(64)}@${longDomain}c`],
      ['empty', ''],
      ['of spaces only', '   '],
    ];
    for (const [name, email] of invalidAddresses) {
      test(`email ${name} rejected`, async () => {
        const response = await post('create', { body: { email } });
        assertErrors(response, 400, 'validation', ['email']);
      });
    }

    test('64-octet local part accepted', async () => {
      const response = await post('create', { body: { email: `${uniqueLocalPart(64)}@example.com` } });
      assert.equal(response.status, 200, response.text);
    });

    test('254-octet address accepted', async () => {
      const email = `${uniqueLocalPart(64)}@${longDomain}`;
      assert.equal(email.length, 254);

      const response = await post('create', { body: { email } });
      assert.equal(response.status, 200, response.text);
    });

    test('email trimmed, domain lower-cased', async () => {
      const localPart = uniqueAddress('Trim.Case').split('@')[0] ?? '';

      const response = await post('create', { body: { email: `  ${localPart}@Example.COM \t` } });
      assert.equal(response.status, 200, response.text);

      const [mail] = await smtp.waitFor(`${localPart}@example.com`);
      assert.ok(mail);
      assert.deepEqual(recipientsOf(mail), [`${localPart}@example.com`]);
    });
  });

  describe('confirm', () => {
    test('missing token and password rejected', async () => {
      const response = await post('confirm', { body: {} });
      assertErrors(response, 400, 'validation', ['token', 'password']);
    });

    test('missing password rejected', async () => {
      const response = await post('confirm', { body: { token: unissuedSecret() } });
      assertErrors(response, 400, 'validation', ['password']);
    });

    test('wrong-typed fields rejected', async () => {
      const response = await post('confirm', { body: { token: 7, password: ['secret'] } });
      assertErrors(response, 400, 'validation', ['token', 'password']);
    });

    test('unknown field rejected', async () => {
      const response = await post('confirm', { body: { token: unissuedSecret(), password: PASSWORD, repeat: PASSWORD } });
      assertErrors(response, 400, 'validation', ['repeat']);
    });

    test('overlong token rejected', async () => {
      const response = await post('confirm', { body: { token: 'a'.repeat(1025), password: PASSWORD } });
      assertErrors(response, 400, 'validation', ['token']);
    });

    test('unknown token rejected', async () => {
      const response = await post('confirm', { body: { token: unissuedSecret(), password: PASSWORD } });
      assertErrors(response, 400, 'validation', ['token']);
      assert.equal(response.cookies.sessionid, undefined);
    });

    test('malformed token rejected', async () => {
      const response = await post('confirm', { body: { token: 'not a token', password: PASSWORD } });
      assertErrors(response, 400, 'validation', ['token']);
    });

    test('used token rejected', async () => {
      const { token } = await signUp(server.url, smtp, uniqueAddress('used'));
      const first = await post('confirm', { body: { token, password: PASSWORD } });
      assert.equal(first.status, 200, first.text);

      const second = await post('confirm', { body: { token, password: 'Another-Horse-Battery-88' } });
      const [entry] = assertErrors(second, 400, 'validation', ['token']);
      assert.match(entry?.error_message ?? '', /used/);
      assert.equal(second.cookies.sessionid, undefined);
    });

    test('expired token rejected', async () => {
      const email = uniqueAddress('expired');
      const { uuid, token } = await signUp(server.url, smtp, email);
      assert.equal(await expireTokensOf(uuid), 1);

      const response = await post('confirm', { body: { token, password: PASSWORD } });
      const [entry] = assertErrors(response, 400, 'validation', ['token']);
      assert.match(entry?.error_message ?? '', /expired/);
      assert.equal(response.cookies.sessionid, undefined);

      const login = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
      assert.equal(login.status, 401);
    });

    test('older token invalid after confirm', async () => {
      const email = uniqueAddress('older');
      await post('create', { body: { email } });
      await smtp.waitFor(email, 1);
      await post('create', { body: { email } });
      const [firstMail, secondMail] = await smtp.waitFor(email, 2);
      assert.ok(firstMail);
      assert.ok(secondMail);
      const older = tokenOf(confirmationLinkIn(firstMail));
      const newer = tokenOf(confirmationLinkIn(secondMail));
      assert.notEqual(older, newer);

      const confirmed = await post('confirm', { body: { token: newer, password: PASSWORD } });
      assert.equal(confirmed.status, 200, confirmed.text);

      const response = await post('confirm', { body: { token: older, password: 'Another-Horse-Battery-88' } });
      assertErrors(response, 400, 'validation', ['token']);
    });

    const weakPasswords: Array<[string, (email: string) => string]> = [
      ['under 8 characters', () => 'Xy7#kq2'],
      ['of 7 emoji', () => '\u{1F600}'.repeat(7)],
      ['password1', () => 'password1'],
      ['qwertyuiop', () => 'qwertyuiop'],
      ['common in capitals', () => 'PASSWORD1'],
      ['equal to email', (email) => email],
      ['equal to upper-cased email', (email) => email.toUpperCase()],
      ['equal to local part', (email) => email.slice(0, email.lastIndexOf('@'))],
      ['over 1024 UTF-8 bytes', () => '\u00fc'.repeat(513)],
      ['over 4096 characters', () => 'k'.repeat(4097)],
    ];
    for (const [name, passwordFor] of weakPasswords) {
      test(`password ${name} rejected`, async () => {
        const email = uniqueAddress('weak');
        const { uuid, token } = await signUp(server.url, smtp, email);

        const response = await post('confirm', { body: { token, password: passwordFor(email) } });
        assertErrors(response, 400, 'validation', ['password']);
        assert.equal(response.cookies.sessionid, undefined);

        const retry = await post('confirm', { body: { token, password: PASSWORD } });
        assert.equal(retry.status, 200, retry.text);
        assert.deepEqual(retry.body, { uuid });
      });
    }

    test('password of 1024 bytes accepted', async () => {
      const password = `${'Q7'.repeat(506)}${'\u00fc'.repeat(6)}`;
      assert.equal(Buffer.byteLength(password), 1024);
      const { uuid, token } = await signUp(server.url, smtp, uniqueAddress('long'));

      const response = await post('confirm', { body: { token, password } });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, { uuid });
    });
  });

  describe('login', () => {
    let active: { email: string; uuid: string };
    let pendingEmail: string;

    before(async () => {
      active = await activeAccount(server.url, smtp, uniqueAddress('login'));
      pendingEmail = uniqueAddress('pending');
      await signUp(server.url, smtp, pendingEmail);
    });

    test('missing fields rejected', async () => {
      const { response, verifications } = await loginCounted({});
      assertErrors(response, 400, 'validation', ['username', 'password']);
      assert.equal(verifications, 0);
    });

    test('wrong-typed fields rejected', async () => {
      const { response, verifications } = await loginCounted({ username: 1, password: false });
      assertErrors(response, 400, 'validation', ['username', 'password']);
      assert.equal(verifications, 0);
    });

    test('unknown field rejected', async () => {
      const { response, verifications } = await loginCounted({ username: active.email, password: PASSWORD, remember: true });
      assertErrors(response, 400, 'validation', ['remember']);
      assert.equal(verifications, 0);
    });

    test('unknown address gets 401', async () => {
      const { response, verifications } = await loginCounted({ username: uniqueAddress('nobody'), password: PASSWORD });
      assertNotAuthenticated(response);
      assert.equal(verifications, 1);
    });

    test('wrong password gets 401', async () => {
      const { response, verifications } = await loginCounted({ username: active.email, password: WRONG_PASSWORD });
      assertNotAuthenticated(response);
      assert.equal(verifications, 1);
    });

    test('pending account gets 401', async () => {
      const { response, verifications } = await loginCounted({ username: pendingEmail, password: PASSWORD });
      assertNotAuthenticated(response);
      assert.equal(verifications, 1);
    });

    test('malformed username gets 401', async () => {
      const { response, verifications } = await loginCounted({ username: 'not an address', password: PASSWORD });
      assertNotAuthenticated(response);
      assert.equal(verifications, 1);
    });

    test('password over 1024 bytes gets 401', async () => {
      const { response, verifications } = await loginCounted({ username: active.email, password: '\u00fc'.repeat(513) });
      assertNotAuthenticated(response);
      assert.equal(verifications, 0);
    });

    test('one body for every cause', async () => {
      const causes = [
        { username: uniqueAddress('nobody'), password: PASSWORD },
        { username: active.email, password: WRONG_PASSWORD },
        { username: pendingEmail, password: PASSWORD },
        { username: active.email, password: '\u00fc'.repeat(513) },
      ];

      const responses = [];
      for (const body of causes) responses.push(await post('login', { body }));

      const [first, ...others] = responses;
      assert.ok(first);
      for (const other of others) {
        assert.equal(other.status, first.status);
        assert.equal(other.text, first.text);
        assert.equal(other.headers.get('www-authenticate'), first.headers.get('www-authenticate'));
      }
    });
  });

  describe('logout', () => {
    let email: string;

    before(async () => {
      ({ email } = await activeAccount(server.url, smtp, uniqueAddress('logout')));
    });

    test('missing CSRF header gets 403', async () => {
      const { sessionid, csrftoken } = await logIn(email);

      const response = await post('logout', { cookies: { sessionid, csrftoken } });
      assertErrors(response, 403, 'permission', [null]);
      assert.equal(await sessionIsLive(sessionid), true);
    });

    test('wrong CSRF header gets 403', async () => {
      const { sessionid, csrftoken } = await logIn(email);

      const response = await post('logout', { cookies: { sessionid, csrftoken }, headers: { 'X-CSRFToken': unissuedSecret() } });
      assertErrors(response, 403, 'permission', [null]);
      assert.equal(await sessionIsLive(sessionid), true);
    });

    test("another session's CSRF token gets 403", async () => {
      const first = await logIn(email);
      const second = await logIn(email);

      const response = await post('logout', {
        cookies: { sessionid: first.sessionid, csrftoken: second.csrftoken },
        headers: { 'X-CSRFToken': second.csrftoken },
      });
      assertErrors(response, 403, 'permission', [null]);
      assert.equal(await sessionIsLive(first.sessionid), true);
      assert.equal(await sessionIsLive(second.sessionid), true);
    });

    test('forged CSRF cookie pair gets 403', async () => {
      const { sessionid } = await logIn(email);
      const forged = unissuedSecret();

      const response = await post('logout', { cookies: { sessionid, csrftoken: forged }, headers: { 'X-CSRFToken': forged } });
      assertErrors(response, 403, 'permission', [null]);
      assert.equal(await sessionIsLive(sessionid), true);
    });

    test('correct CSRF header logs out', async () => {
      const { sessionid, csrftoken } = await logIn(email);

      const response = await post('logout', { cookies: { sessionid, csrftoken }, headers: { 'X-CSRFToken': csrftoken } });
      assertEmptySuccess(response);
      assert.equal(response.cookies.sessionid?.value, '');
      assert.match(response.cookies.sessionid?.attributes ?? '', /max-age=0/);
      assert.equal(response.cookies.csrftoken?.value, '');
      assert.match(response.cookies.csrftoken?.attributes ?? '', /max-age=0/);
      assert.equal(await sessionIsLive(sessionid), false);
    });

    test('no session gets 200', async () => {
      const response = await post('logout');
      assertEmptySuccess(response);
    });

    test('unknown session gets 200', async () => {
      const response = await post('logout', { cookies: { sessionid: unissuedSecret() } });
      assertEmptySuccess(response);
    });

    test('unknown field rejected', async () => {
      const response = await post('logout', { body: { everywhere: true } });
      assertErrors(response, 400, 'validation', ['everywhere']);
    });
  });

  describe('check_login', () => {
    let email: string;

    before(async () => {
      ({ email } = await activeAccount(server.url, smtp, uniqueAddress('check')));
    });

    test('logged-out session gets 401', async () => {
      const { sessionid, csrftoken } = await logIn(email);
      const logout = await post('logout', { cookies: { sessionid, csrftoken }, headers: { 'X-CSRFToken': csrftoken } });
      assert.equal(logout.status, 200);

      const response = await post('check_login', { cookies: { sessionid, csrftoken } });
      assertNotAuthenticated(response);
    });

    test('garbage sessionid gets 401', async () => {
      const response = await post('check_login', { cookies: { sessionid: 'garbage' } });
      assertNotAuthenticated(response);
    });

    test('unissued sessionid gets 401', async () => {
      const response = await post('check_login', { cookies: { sessionid: unissuedSecret() } });
      assertNotAuthenticated(response);
    });

    test('no credentials get 401', async () => {
      const response = await post('check_login');
      assertNotAuthenticated(response);
    });

    test('malformed Basic header gets 401', async () => {
      const response = await post('check_login', { headers: { Authorization: 'Basic !!!not-base64' } });
      assertNotAuthenticated(response);
    });

    test('wrong Basic password gets 401', async () => {
      const credentials = Buffer.from(`${email}:${WRONG_PASSWORD}`).toString('base64');
      const response = await post('check_login', { headers: { Authorization: `Basic ${credentials}` } });
      assertNotAuthenticated(response);
    });

    test('unknown field rejected', async () => {
      const response = await post('check_login', { body: { uuid: 'x' } });
      assertErrors(response, 400, 'validation', ['uuid']);
    });
  });

  describe('check_login_with_return_uuid', () => {
    let email: string;
    let pendingEmail: string;

    before(async () => {
      ({ email } = await activeAccount(server.url, smtp, uniqueAddress('uuid')));
      pendingEmail = uniqueAddress('uuid-pending');
      await signUp(server.url, smtp, pendingEmail);
    });

    test('username alone rejected', async () => {
      const response = await post('check_login_with_return_uuid', { body: { username: email } });
      assertErrors(response, 400, 'validation', ['password']);
    });

    test('password alone rejected', async () => {
      const response = await post('check_login_with_return_uuid', { body: { password: PASSWORD } });
      assertErrors(response, 400, 'validation', ['username']);
    });

    test('numeric username rejected', async () => {
      const response = await post('check_login_with_return_uuid', { body: { username: 5, password: PASSWORD } });
      assertErrors(response, 400, 'validation', ['username']);
    });

    test('wrong credentials get 401', async () => {
      const verificationsBefore = server.hasher.verifications;
      const response = await post('check_login_with_return_uuid', { body: { username: email, password: WRONG_PASSWORD } });
      assertNotAuthenticated(response);
      assert.equal(server.hasher.verifications - verificationsBefore, 1);
    });

    test('pending account gets 401', async () => {
      const response = await post('check_login_with_return_uuid', { body: { username: pendingEmail, password: PASSWORD } });
      assertNotAuthenticated(response);
    });

    test('no credentials get 401', async () => {
      const response = await post('check_login_with_return_uuid');
      assertNotAuthenticated(response);
    });

    test('garbage session gets 401', async () => {
      const response = await post('check_login_with_return_uuid', { cookies: { sessionid: 'garbage' } });
      assertNotAuthenticated(response);
    });
  });

  describe('every response', () => {
    // Each test lists every offending exchange at once, so that one failure does not hide the others.
    test('no response is 5xx', () => {
      assert.ok(exchanges.length > 0);

      const offenders = exchanges.filter(({ response }) => response.status >= 500).map(describeExchange);
      assert.deepEqual(offenders, []);
    });

    test('every response has X-REQUEST-ID', () => {
      assert.ok(exchanges.length > 0);

      const offenders = exchanges.filter(({ response }) => !UUID.test(response.headers.get('x-request-id') ?? '')).map(describeExchange);
      assert.deepEqual(offenders, []);
    });

    test('error bodies are strict lists', () => {
      const failures = exchanges.filter(({ label, response }) => response.status >= 400 && !label.startsWith('HEAD '));
      assert.ok(failures.length > 0);

      const offenders = failures.filter(({ response }) => !isStrictErrorList(response)).map(describeExchange);
      assert.deepEqual(offenders, []);
    });

    test('no message contains a secret', () => {
      const withSecrets = exchanges.filter(({ secrets, response }) => secrets.length > 0 && response.status >= 400);
      assert.ok(withSecrets.length > 0);

      const offenders = withSecrets
        .filter(({ response, secrets }) => secrets.some((secret) => response.text.includes(secret)))
        .map(describeExchange);
      assert.deepEqual(offenders, []);
    });
  });
});
