import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

import { activeAccount, PASSWORD } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request, type RequestOptions } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, sqlRows } from './helpers/store.js';
import { STEP_MS, totp } from './helpers/totp.js';

const run = promisify(execFile);
const TOKENS_PATH = '/api/2.0/accounts/tokens/';
const PROFILE_PATH = '/api/2.0/profile/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const OLD_KEY = 'old-async-auth-key-0123456789abcdef0123456789';
const NEW_KEY = 'new-async-auth-key-0123456789abcdef0123456789';

interface TokenObject {
  uuid: string;
  name: string;
  read_only: boolean;
  created: string;
  last_used: string | null;
  expires: string | null;
  resource_uri: string;
  token?: string;
}

type Account = Awaited<ReturnType<typeof activeAccount>>;

function basic(email: string, password = PASSWORD): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}` };
}

function bearer(secret: string): Record<string, string> {
  return { Authorization: `Bearer ${secret}` };
}

/** Returns the credentials of an account's confirmation session, with its CSRF header. */
function sessionOf(account: Account): RequestOptions {
  return { cookies: account.cookies, headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '' } };
}

/** Returns an async_auth value signed as the server signs it, for tests of expiry and keys. */
function asyncAuthValue(accountUuid: string, expiresSeconds: number, key: string): string {
  const payload = `${accountUuid}.${expiresSeconds}`;
  return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
}

describe('API tokens, async_auth and API restrictions', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    // Requests from 127.0.0.1 may claim HTTPS in X-Forwarded-Proto, as a TLS proxy in front would.
    server = await startTestServer({ SMTP_URL: await smtp.start(), TRUSTED_PROXIES: '127.0.0.1', ASYNC_AUTH_KEYS: `${NEW_KEY},${OLD_KEY}` });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  function createToken(options: RequestOptions, body: Record<string, unknown>): Promise<ApiResponse> {
    return request(`${server.url}${TOKENS_PATH}`, { method: 'POST', body, ...options, headers: { ...options.headers } });
  }

  async function newToken(account: Account, body: Record<string, unknown> = { name: 'deploy' }): Promise<TokenObject & { token: string }> {
    const response = await createToken(sessionOf(account), body);
    assert.equal(response.status, 201, response.text);
    const [created] = (response.body as { objects: Array<TokenObject & { token: string }> }).objects;
    assert.ok(created);
    return created;
  }

  function profile(options: RequestOptions, baseUrl = server.url): Promise<ApiResponse> {
    return request(`${baseUrl}${PROFILE_PATH}`, { method: 'GET', ...options });
  }

  describe('API tokens', () => {
    test('create returns the secret once; the list never shows it', async () => {
      const account = await activeAccount(server.url, smtp);
      const created = await newToken(account, { name: 'terraform', read_only: false });
      assert.deepEqual(Object.keys(created).sort(), ['created', 'expires', 'last_used', 'name', 'read_only', 'resource_uri', 'token', 'uuid']);
      assert.match(created.uuid, UUID);
      assert.match(created.token, /^sat_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.name, 'terraform');
      assert.equal(created.read_only, false);
      assert.match(created.created, ISO_WITH_OFFSET);
      assert.equal(created.last_used, null);
      assert.equal(created.expires, null);
      assert.equal(created.resource_uri, `${TOKENS_PATH}${created.uuid}/`);

      // Stored only as a digest.
      const rows = await sqlRows<{ digest: string }>(server.dataDir, 'select digest from api_tokens where uuid = ?', [created.uuid]);
      assert.match(rows[0]?.digest ?? '', /^[0-9a-f]{64}$/);
      assert.ok(!JSON.stringify(await sqlRows(server.dataDir, 'select * from api_tokens')).includes(created.token.slice(4)));

      const used = await profile({ headers: bearer(created.token) });
      assert.equal(used.status, 200, used.text);
      assert.equal((used.body as { uuid: string }).uuid, account.uuid);

      const listed = await request(`${server.url}${TOKENS_PATH}`, { method: 'GET', cookies: account.cookies });
      assert.equal(listed.status, 200, listed.text);
      const body = listed.body as { meta: { total_count: number }; objects: TokenObject[] };
      assert.equal(body.meta.total_count, 1);
      assert.equal(body.objects[0]?.uuid, created.uuid);
      assert.equal(body.objects[0]?.token, undefined);
      assert.ok(!listed.text.includes(created.token));
      assert.match(body.objects[0]?.last_used ?? '', ISO_WITH_OFFSET, 'the use was recorded');
    });

    test('full and read-only tokens', async () => {
      const account = await activeAccount(server.url, smtp);
      const full = await newToken(account, { name: 'full' });
      const readOnly = await newToken(account, { name: 'reader', read_only: true });

      const updated = await request(`${server.url}${PROFILE_PATH}`, { method: 'PUT', body: { company: 'Acme' }, headers: bearer(full.token) });
      assert.equal(updated.status, 200, updated.text);
      assert.equal((await action(server.url, 'check_login', { headers: bearer(full.token) })).status, 200);
      // The check actions are POSTs that change nothing, so a read-only token may call them.
      const whoAmI = await action(server.url, 'check_login_with_return_uuid', { headers: bearer(readOnly.token) });
      assert.equal(whoAmI.status, 200, whoAmI.text);
      assert.deepEqual(whoAmI.body, { uuid: account.uuid });
      assert.equal((await action(server.url, 'check_login', { headers: bearer(readOnly.token) })).status, 200);
      assert.equal((await action(server.url, 'authenticate_asynchronous', { headers: bearer(readOnly.token) })).status, 403);

      assert.equal((await profile({ headers: bearer(readOnly.token) })).status, 200);
      const refused = await request(`${server.url}${PROFILE_PATH}`, { method: 'PUT', body: { company: 'Evil' }, headers: bearer(readOnly.token) });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(errorList(refused)[0]?.error_type, 'permission');
      assert.match(errorList(refused)[0]?.error_message ?? '', /read-only/);
      assert.equal(((await profile({ headers: bearer(full.token) })).body as { company: string }).company, 'Acme');

      // Tokens cannot make or revoke tokens, nor change two-factor authentication.
      assert.equal((await createToken({ headers: bearer(full.token) }, { name: 'child' })).status, 403);
      assert.equal((await request(`${server.url}${TOKENS_PATH}${readOnly.uuid}/`, { method: 'DELETE', headers: bearer(full.token) })).status, 403);
      assert.equal((await action(server.url, 'otp_setup', { headers: bearer(full.token) })).status, 403);

      const wrong = await profile({ headers: bearer(`sat_${'A'.repeat(43)}`) });
      assert.equal(wrong.status, 401);
      assert.equal((await profile({ headers: bearer('not-a-token') })).status, 401);
    });

    test('bad input to create is a validation error naming the field', async () => {
      const account = await activeAccount(server.url, smtp);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: '   ' }, 'name'],
        [{ name: 'x'.repeat(101) }, 'name'],
        [{ name: 'ok', read_only: 'yes' }, 'read_only'],
        [{ name: 'ok', expires: 'tomorrow' }, 'expires'],
        [{ name: 'ok', expires: '2000-01-01T00:00:00+00:00' }, 'expires'],
        [{ name: 'ok', scope: 'all' }, 'scope'],
      ];
      for (const [body, point] of cases) {
        const response = await createToken(sessionOf(account), body);
        assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`);
        assert.equal(errorList(response)[0]?.error_point, point, JSON.stringify(body));
      }
      const noCsrf = await createToken({ cookies: account.cookies }, { name: 'x' });
      assert.equal(noCsrf.status, 403);
      assert.equal(await sqlRows(server.dataDir, 'select uuid from api_tokens where account_uuid = ?', [account.uuid]).then((rows) => rows.length), 0);
    });

    test('at most 100 tokens, even in parallel', async () => {
      const account = await activeAccount(server.url, smtp);
      const responses = await Promise.all(Array.from({ length: 105 }, (_, index) => createToken(sessionOf(account), { name: `bulk ${index}` })));
      const created = responses.filter((response) => response.status === 201).length;
      assert.equal(created, 100);
      const refused = responses.find((response) => response.status !== 201);
      assert.equal(refused?.status, 400, refused?.text);
      assert.match(errorList(refused ?? responses[0]!)[0]?.error_message ?? '', /at most 100 API tokens/);
    });

    test('impossible expiry and invisible names', async () => {
      const account = await activeAccount(server.url, smtp);
      for (const expires of ['2030-02-30T00:00:00Z', '2030-01-01T24:00:00Z', '2030-13-01T00:00:00Z']) {
        const response = await createToken(sessionOf(account), { name: 'x', expires });
        assert.equal(response.status, 400, expires);
        assert.equal(errorList(response)[0]?.error_point, 'expires', expires);
      }
      for (const name of ['evil\u202etxt.exe', '\u200b']) {
        const response = await createToken(sessionOf(account), { name });
        assert.equal(response.status, 400, JSON.stringify(name));
        assert.equal(errorList(response)[0]?.error_point, 'name', JSON.stringify(name));
      }
    });

    test('an expired token is refused', async () => {
      const account = await activeAccount(server.url, smtp);
      const expires = new Date(Date.now() + 1500).toISOString();
      const token = await newToken(account, { name: 'short', expires });
      assert.equal(new Date(token.expires ?? '').getTime(), new Date(expires).getTime());
      assert.equal((await profile({ headers: bearer(token.token) })).status, 200);
      await delay(1600);
      assert.equal((await profile({ headers: bearer(token.token) })).status, 401);
    });

    test('revoke ends a token at once, on another node too', async () => {
      const account = await activeAccount(server.url, smtp);
      const token = await newToken(account);
      const other = await startTestServer({ DATA_DIR: server.dataDir, SMTP_URL: `smtp://127.0.0.1:1` });
      try {
        assert.equal((await profile({ headers: bearer(token.token) }, other.url)).status, 200);

        const revoked = await request(`${server.url}${TOKENS_PATH}${token.uuid}/`, { method: 'DELETE', ...sessionOf(account) });
        assert.equal(revoked.status, 200, revoked.text);
        assert.deepEqual(revoked.body, {});

        assert.equal((await profile({ headers: bearer(token.token) }, other.url)).status, 401);
        assert.equal((await profile({ headers: bearer(token.token) })).status, 401);
        const listed = await request(`${other.url}${TOKENS_PATH}`, { method: 'GET', headers: basic(account.email) });
        assert.equal((listed.body as { meta: { total_count: number } }).meta.total_count, 0);

        const again = await request(`${server.url}${TOKENS_PATH}${token.uuid}/`, { method: 'DELETE', ...sessionOf(account) });
        assert.equal(again.status, 404);
        assert.equal(errorList(again)[0]?.error_type, 'notexist');
      } finally {
        await other.stop();
      }
    });

    test('foreign revoke and account deletion', async () => {
      const owner = await activeAccount(server.url, smtp);
      const stranger = await activeAccount(server.url, smtp);
      const token = await newToken(owner);

      const foreign = await request(`${server.url}${TOKENS_PATH}${token.uuid}/`, { method: 'DELETE', ...sessionOf(stranger) });
      assert.equal(foreign.status, 404);
      assert.equal((await profile({ headers: bearer(token.token) })).status, 200);

      const deleted = await action(server.url, 'delete_account', { body: { password: PASSWORD }, ...sessionOf(owner) });
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal((await profile({ headers: bearer(token.token) })).status, 401);
      assert.equal(await sqlRows(server.dataDir, 'select uuid from api_tokens where account_uuid = ?', [owner.uuid]).then((rows) => rows.length), 0);
    });

    test('a two-factor account uses tokens without a code', async () => {
      const account = await activeAccount(server.url, smtp);
      const setup = await action(server.url, 'otp_setup', sessionOf(account));
      const { secret } = setup.body as { secret: string };
      const session = sessionOf(account);
      const enabled = await action(server.url, 'otp_enable', { ...session, body: { password: PASSWORD }, headers: { ...session.headers, OTP: totp(secret) } });
      assert.equal(enabled.status, 200, enabled.text);

      const token = await newToken(account);
      assert.equal((await profile({ headers: basic(account.email) })).status, 401);
      assert.equal((await profile({ headers: bearer(token.token) })).status, 200);
      // Basic with a code can manage tokens.
      const listed = await request(`${server.url}${TOKENS_PATH}`, { method: 'GET', headers: { ...basic(account.email), OTP: totp(secret, Date.now() + STEP_MS) } });
      assert.equal(listed.status, 200, listed.text);
    });
  });

  describe('async_auth', () => {
    test('authenticate_asynchronous sets the cookie that check_login_with_return_uuid accepts', async () => {
      const account = await activeAccount(server.url, smtp);
      const issued = await action(server.url, 'authenticate_asynchronous', sessionOf(account));
      assert.equal(issued.status, 200, issued.text);
      assert.deepEqual(issued.body, {});
      const cookie = issued.cookies.async_auth;
      assert.ok(cookie, 'an async_auth cookie is set');
      assert.match(cookie.attributes, /max-age=120/);
      assert.match(cookie.attributes, /path=\//);
      assert.ok(cookie.value.startsWith(`${account.uuid}.`));

      const checked = await action(server.url, 'check_login_with_return_uuid', { cookies: { async_auth: cookie.value } });
      assert.equal(checked.status, 200, checked.text);
      assert.deepEqual(checked.body, { uuid: account.uuid });

      // Without CSRF a session cannot get one; Basic can.
      assert.equal((await action(server.url, 'authenticate_asynchronous', { cookies: account.cookies })).status, 403);
      assert.equal((await action(server.url, 'authenticate_asynchronous', { headers: basic(account.email) })).status, 200);
      assert.equal((await action(server.url, 'authenticate_asynchronous')).status, 401);
    });

    test('an expired, tampered or foreign-key value is refused; the previous key still verifies', async () => {
      const account = await activeAccount(server.url, smtp);
      const check = (value: string) => action(server.url, 'check_login_with_return_uuid', { cookies: { async_auth: value } });
      const inAMinute = Math.floor(Date.now() / 1000) + 60;

      assert.equal((await check(asyncAuthValue(account.uuid, inAMinute, NEW_KEY))).status, 200);
      assert.equal((await check(asyncAuthValue(account.uuid, inAMinute, OLD_KEY))).status, 200, 'rotation: the old key still verifies');

      const expired = await check(asyncAuthValue(account.uuid, Math.floor(Date.now() / 1000) - 1, NEW_KEY));
      assert.equal(expired.status, 401);
      assert.match(errorList(expired)[0]?.error_message ?? '', /async_auth/);

      const valid = asyncAuthValue(account.uuid, inAMinute, NEW_KEY);
      const tampered = `${valid.slice(0, -2)}${valid.endsWith('AA') ? 'BB' : 'AA'}`;
      assert.equal((await check(tampered)).status, 401);
      const otherUuid = valid.replace(account.uuid, '00000000-0000-4000-8000-000000000000');
      assert.equal((await check(otherUuid)).status, 401, 'the uuid is signed');
      const longer = valid.replace(`.${inAMinute}.`, `.${inAMinute + 3600}.`);
      assert.equal((await check(longer)).status, 401, 'the expiry is signed');
      assert.equal((await check(asyncAuthValue(account.uuid, inAMinute, 'some-other-key-0123456789abcdef0123456789'))).status, 401);
      assert.equal((await check('garbage')).status, 401);
    });

    test('other credentials beat the cookie', async () => {
      const account = await activeAccount(server.url, smtp);
      const value = asyncAuthValue(account.uuid, Math.floor(Date.now() / 1000) + 60, NEW_KEY);
      for (const authorization of [basic(account.email, 'wrong password').Authorization ?? '', 'Basic !!!', 'Bearer x']) {
        const response = await action(server.url, 'check_login_with_return_uuid', { cookies: { async_auth: value }, headers: { Authorization: authorization } });
        assert.equal(response.status, 401, authorization);
      }
    });

    test('the server signs with the first key of ASYNC_AUTH_KEYS', async () => {
      const account = await activeAccount(server.url, smtp);
      const issued = await action(server.url, 'authenticate_asynchronous', { headers: basic(account.email) });
      const [uuid, expires] = (issued.cookies.async_auth?.value ?? '').split('.');
      assert.equal(issued.cookies.async_auth?.value, asyncAuthValue(uuid ?? '', Number(expires), NEW_KEY));
      const remaining = Number(expires) - Date.now() / 1000;
      assert.ok(remaining > 110, `expires in ${remaining} s`);
      assert.ok(remaining <= 121, `expires in ${remaining} s`);
    });
  });

  describe('API restrictions', () => {
    /** Runs `node dist/main.js ARGS` against the test server's database. */
    async function cli(...args: string[]): Promise<string> {
      const env = { ...process.env, DATA_DIR: server.dataDir, DATABASE_URL: databaseUrlFor(server.dataDir), LOG_LEVEL: 'warn' };
      const { stdout } = await run(process.execPath, ['dist/main.js', ...args], { env });
      return stdout;
    }

    /** Session, Basic and Bearer credentials of one account, each as request options. */
    async function callers(account: Account): Promise<Record<string, RequestOptions>> {
      const token = await newToken(account);
      return { session: { cookies: account.cookies }, basic: { headers: basic(account.email) }, bearer: { headers: bearer(token.token) } };
    }

    async function statuses(ways: Record<string, RequestOptions>, extraHeaders: Record<string, string> = {}): Promise<Record<string, number>> {
      const result: Record<string, number> = {};
      for (const [name, options] of Object.entries(ways)) {
        result[name] = (await profile({ ...options, headers: { ...options.headers, ...extraHeaders } })).status;
      }
      return result;
    }

    test('api_https_only refuses plain HTTP for session, Basic and Bearer callers', async () => {
      const account = await activeAccount(server.url, smtp);
      const ways = await callers(account);
      const set = await request(`${server.url}${PROFILE_PATH}`, { method: 'PUT', body: { api_https_only: true }, ...sessionOf(account) });
      assert.equal(set.status, 200, set.text);
      assert.equal((set.body as { api_https_only: boolean }).api_https_only, true);

      assert.deepEqual(await statuses(ways), { session: 403, basic: 403, bearer: 403 });
      const refused = await profile(ways.basic ?? {});
      assert.equal(errorList(refused)[0]?.error_type, 'permission');
      assert.match(errorList(refused)[0]?.error_message ?? '', /HTTPS only/);
      assert.equal((await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } })).status, 403);

      const overHttps = { 'X-Forwarded-Proto': 'https' };
      assert.deepEqual(await statuses(ways, overHttps), { session: 200, basic: 200, bearer: 200 });
      const off = await request(`${server.url}${PROFILE_PATH}`, {
        method: 'PUT',
        body: { api_https_only: false },
        headers: { ...basic(account.email), ...overHttps },
      });
      assert.equal(off.status, 200, off.text);
      assert.deepEqual(await statuses(ways), { session: 200, basic: 200, bearer: 200 });

      // Locked out over plain HTTP, the owner gets help from an operator.
      await request(`${server.url}${PROFILE_PATH}`, { method: 'PUT', body: { api_https_only: true }, ...sessionOf(account) });
      assert.deepEqual(await statuses(ways), { session: 403, basic: 403, bearer: 403 });
      await cli('accounts', 'allow-http', account.email);
      assert.deepEqual(await statuses(ways), { session: 200, basic: 200, bearer: 200 });

      const changes = await sqlRows<{ details: string }>(server.dataDir, "select details from audit_log where account_uuid = ? and type = 'set_api_https_only' order by seq", [account.uuid]);
      assert.deepEqual(changes.map((row) => row.details), ['api_https_only true', 'api_https_only false', 'api_https_only true', 'api_https_only false']);
    });

    test('network_restrictions set through the command line refuse other networks', async () => {
      const account = await activeAccount(server.url, smtp);
      const ways = await callers(account);

      const shown = await cli('accounts', 'restrict-networks', account.email, '192.0.2.0/24, 2001:db8::/32');
      assert.match(shown, /API networks:\s+192\.0\.2\.0\/24,2001:db8::\/32/);
      assert.deepEqual(await statuses(ways), { session: 403, basic: 403, bearer: 403 });
      const refused = await profile(ways.bearer ?? {});
      assert.match(errorList(refused)[0]?.error_message ?? '', /network_restrictions/);
      const read = await profile({ ...ways.session, headers: { 'X-Forwarded-Proto': 'http' } });
      assert.equal(read.status, 403);

      await cli('accounts', 'restrict-networks', account.uuid, '10.0.0.0/8,127.0.0.1');
      assert.deepEqual(await statuses(ways), { session: 200, basic: 200, bearer: 200 });
      assert.equal(((await profile(ways.session ?? {})).body as { network_restrictions: string }).network_restrictions, '10.0.0.0/8,127.0.0.1/32');

      await cli('accounts', 'restrict-networks', account.email, 'any');
      assert.equal(((await profile(ways.session ?? {})).body as { network_restrictions: string | null }).network_restrictions, null);

      await assert.rejects(cli('accounts', 'restrict-networks', account.email, '10.0.0.0/33'), /not "any" or a comma-separated list of CIDRs/);
    });
  });
});
