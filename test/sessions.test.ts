import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { activeAccount, PASSWORD } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request, type RequestOptions } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';

const SESSIONS_PATH = '/api/2.0/accounts/sessions/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_WITH_UTC_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const OBJECT_KEYS = ['created', 'current', 'id', 'ip', 'last_seen', 'user_agent'];

interface SessionObject {
  id: string;
  created: string;
  last_seen: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

interface SessionList {
  meta: { limit: number; offset: number; total_count: number };
  objects: SessionObject[];
}

/** Cookies of a logged-in browser, with the CSRF header that unsafe requests echo. */
interface Browser {
  cookies: Record<string, string>;
  csrf: Record<string, string>;
}

function browserOf(cookies: Record<string, string>): Browser {
  return { cookies, csrf: { 'X-CSRFToken': cookies.csrftoken ?? '' } };
}

function basicHeader(email: string, password = PASSWORD): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}` };
}

/** Same formatting as the server: ISO 8601, microseconds, +00:00. */
function isoWithOffset(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** Asserts a 401 with a Basic challenge. */
function assertUnauthenticated(response: ApiResponse): void {
  assert.equal(response.status, 401, response.text);
  assert.equal(errorList(response)[0]?.error_type, 'permission');
  assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
}

describe('sessions API', () => {
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

  async function login(email: string, userAgent = 'sessions-test'): Promise<Browser> {
    const response = await action(server.url, 'login', { body: { username: email, password: PASSWORD }, headers: { 'User-Agent': userAgent } });
    assert.equal(response.status, 200, response.text);
    return browserOf({ sessionid: response.cookies.sessionid?.value ?? '', csrftoken: response.cookies.csrftoken?.value ?? '' });
  }

  function list(options: RequestOptions = {}, query = ''): Promise<ApiResponse> {
    return request(`${server.url}${SESSIONS_PATH}${query}`, { method: 'GET', ...options });
  }

  async function listBody(options: RequestOptions = {}, query = ''): Promise<SessionList> {
    const response = await list(options, query);
    assert.equal(response.status, 200, response.text);
    return response.body as SessionList;
  }

  function remove(id: string, options: RequestOptions = {}): Promise<ApiResponse> {
    return request(`${server.url}${SESSIONS_PATH}${id}/`, { method: 'DELETE', ...options });
  }

  function endOthers(options: RequestOptions = {}): Promise<ApiResponse> {
    return request(`${server.url}${SESSIONS_PATH}action/?do=end_others`, { body: {}, ...options });
  }

  async function checkLogin(browser: Browser): Promise<number> {
    return (await action(server.url, 'check_login', { cookies: browser.cookies })).status;
  }

  describe('listing', () => {
    test('list shape and current flag', async () => {
      const account = await activeAccount(server.url, smtp);
      await login(account.email, 'agent-one');
      const second = await login(account.email, 'agent-two');

      const response = await list({ cookies: second.cookies });
      assert.equal(response.status, 200, response.text);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      const body = response.body as SessionList;

      assert.deepEqual(Object.keys(body).sort(), ['meta', 'objects']);
      assert.deepEqual(body.meta, { limit: 20, offset: 0, total_count: 3 });
      assert.equal(body.objects.length, 3);

      for (const session of body.objects) {
        assert.deepEqual(Object.keys(session).sort(), OBJECT_KEYS);
        assert.match(session.id, UUID);
        assert.match(session.created, ISO_WITH_UTC_OFFSET);
        assert.match(session.last_seen, ISO_WITH_UTC_OFFSET);
        assert.equal(session.ip, '127.0.0.1');
        assert.equal(typeof session.current, 'boolean');
      }

      assert.deepEqual(
        body.objects.map((session) => session.user_agent),
        ['agent-two', 'agent-one', 'node'],
        'newest first; the confirmation came from fetch',
      );
      assert.deepEqual(
        body.objects.map((session) => session.current),
        [true, false, false],
      );
      const created = body.objects.map((session) => Date.parse(session.created));
      assert.deepEqual(created, [...created].sort((a, b) => b - a));
    });

    test('list never shows secrets', async () => {
      const account = await activeAccount(server.url, smtp);
      const browser = await login(account.email);

      const response = await list({ cookies: browser.cookies });
      assert.equal(response.status, 200);

      const rows = await sqlRows<{ digest: string; csrf_digest: string }>(
        server.dataDir,
        'SELECT digest, csrf_digest FROM sessions WHERE account_uuid = ?',
        [account.uuid],
      );
      assert.equal(rows.length, 2);

      const secrets = [
        browser.cookies.sessionid ?? '',
        browser.cookies.csrftoken ?? '',
        account.cookies.sessionid ?? '',
        createHash('sha256').update(browser.cookies.sessionid ?? '').digest('hex'),
        ...rows.flatMap((row) => [row.digest, row.digest.slice(0, 32), row.csrf_digest]),
      ];
      for (const secret of secrets) {
        assert.ok(secret.length >= 32, 'a real secret');
        assert.equal(response.text.includes(secret), false, 'the list contains no session id, CSRF token or digest');
      }
    });

    test('Basic caller has no current session', async () => {
      const account = await activeAccount(server.url, smtp);
      await login(account.email);

      const body = await listBody({ headers: basicHeader(account.email) });
      assert.equal(body.meta.total_count, 2);
      assert.deepEqual(
        body.objects.map((session) => session.current),
        [false, false],
      );
    });

    test('list shows only own sessions', async () => {
      const first = await activeAccount(server.url, smtp);
      const second = await activeAccount(server.url, smtp);
      await login(second.email);

      const body = await listBody({ cookies: first.cookies });
      assert.equal(body.meta.total_count, 1);
      assert.equal(body.objects.length, 1);
      assert.equal(body.objects[0]?.current, true);
    });

    test('limit and offset page the list', async () => {
      const account = await activeAccount(server.url, smtp);
      for (let index = 0; index < 4; index += 1) await login(account.email, `agent-${index}`);
      const options = { headers: basicHeader(account.email) };

      const everything = await listBody(options);
      assert.equal(everything.meta.total_count, 5);
      const ids = everything.objects.map((session) => session.id);
      assert.equal(new Set(ids).size, 5);

      const first = await listBody(options, '?limit=2');
      assert.deepEqual(first.meta, { limit: 2, offset: 0, total_count: 5 });
      assert.deepEqual(
        first.objects.map((session) => session.id),
        ids.slice(0, 2),
      );

      const second = await listBody(options, '?limit=2&offset=2');
      assert.deepEqual(second.meta, { limit: 2, offset: 2, total_count: 5 });
      assert.deepEqual(
        second.objects.map((session) => session.id),
        ids.slice(2, 4),
      );

      const last = await listBody(options, '?limit=2&offset=4');
      assert.deepEqual(
        last.objects.map((session) => session.id),
        ids.slice(4),
      );

      const beyond = await listBody(options, '?offset=10');
      assert.deepEqual(beyond.meta, { limit: 20, offset: 10, total_count: 5 });
      assert.deepEqual(beyond.objects, []);

      const all = await listBody(options, '?limit=0&offset=1');
      assert.deepEqual(all.meta, { limit: 0, offset: 1, total_count: 5 });
      assert.deepEqual(
        all.objects.map((session) => session.id),
        ids.slice(1),
        'limit 0 returns every session',
      );

      const maximum = await listBody(options, '?limit=100');
      assert.equal(maximum.objects.length, 5);
    });

    test('invalid limit is 400 on limit', async () => {
      const account = await activeAccount(server.url, smtp);

      for (const query of ['limit=abc', 'limit=-1', 'limit=101', 'limit=1.5', 'limit=', 'limit=1&limit=2', 'limit=99999999999']) {
        const response = await list({ cookies: account.cookies }, `?${query}`);
        assert.equal(response.status, 400, `${query}: ${response.text}`);
        const [entry] = errorList(response);
        assert.equal(entry?.error_type, 'validation', query);
        assert.equal(entry?.error_point, 'limit', query);
      }
    });

    test('invalid offset is 400 on offset', async () => {
      const account = await activeAccount(server.url, smtp);

      for (const query of ['offset=x', 'offset=-3', 'offset=2.0', 'offset=0&offset=1']) {
        const response = await list({ cookies: account.cookies }, `?${query}`);
        assert.equal(response.status, 400, `${query}: ${response.text}`);
        assert.equal(errorList(response)[0]?.error_point, 'offset', query);
      }
    });
  });

  describe('ending sessions', () => {
    test('delete ends own session', async () => {
      const account = await activeAccount(server.url, smtp);
      const phone = await login(account.email, 'phone');
      const laptop = await login(account.email, 'laptop');

      const before = await listBody({ cookies: laptop.cookies });
      const phoneId = before.objects.find((session) => session.user_agent === 'phone')?.id ?? '';
      assert.match(phoneId, UUID);

      const response = await remove(phoneId, { cookies: laptop.cookies, headers: laptop.csrf });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, {});
      assert.equal(response.cookies.sessionid, undefined, 'the cookies of the request stay');

      assert.equal(await checkLogin(phone), 401);
      assert.equal(await checkLogin(laptop), 200);
      const after = await listBody({ cookies: laptop.cookies });
      assert.equal(after.meta.total_count, 2);
      assert.ok(!after.objects.some((session) => session.id === phoneId));

      const again = await remove(phoneId, { cookies: laptop.cookies, headers: laptop.csrf });
      assert.equal(again.status, 404);
    });

    test('delete of current session expires cookies', async () => {
      const account = await activeAccount(server.url, smtp);
      const browser = await login(account.email);
      const current = (await listBody({ cookies: browser.cookies })).objects.find((session) => session.current);
      assert.ok(current);

      const response = await remove(current.id, { cookies: browser.cookies, headers: browser.csrf });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.cookies.sessionid?.value, '');
      assert.match(response.cookies.sessionid?.attributes ?? '', /max-age=0/);
      assert.equal(await checkLogin(browser), 401);
    });

    test("delete of another account's session is 404", async () => {
      const owner = await activeAccount(server.url, smtp);
      const stranger = await activeAccount(server.url, smtp);
      const ownerId = (await listBody({ cookies: owner.cookies })).objects[0]?.id ?? '';

      const response = await remove(ownerId, { cookies: stranger.cookies, headers: browserOf(stranger.cookies).csrf });
      assert.equal(response.status, 404, response.text);
      const [entry] = errorList(response);
      assert.equal(entry?.error_type, 'notexist');
      assert.equal(entry?.error_point, null);

      assert.equal(await checkLogin(browserOf(owner.cookies)), 200, 'the owner is still logged in');
    });

    test('delete of unknown id is 404', async () => {
      const account = await activeAccount(server.url, smtp);
      const browser = browserOf(account.cookies);

      for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-session', 'A'.repeat(90)]) {
        const response = await remove(id, { cookies: browser.cookies, headers: browser.csrf });
        assert.equal(response.status, 404, `${id}: ${response.text}`);
        assert.equal(errorList(response)[0]?.error_type, 'notexist');
      }
      assert.equal(await checkLogin(browser), 200);
    });

    test('end_others keeps only the current', async () => {
      const account = await activeAccount(server.url, smtp);
      const others = [await login(account.email), await login(account.email)];
      const keeper = await login(account.email, 'keeper');
      const stranger = await activeAccount(server.url, smtp);

      const response = await endOthers({ cookies: keeper.cookies, headers: keeper.csrf });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, {});

      const remaining = await listBody({ cookies: keeper.cookies });
      assert.equal(remaining.meta.total_count, 1);
      assert.equal(remaining.objects[0]?.user_agent, 'keeper');
      assert.equal(remaining.objects[0]?.current, true);

      assert.equal(await checkLogin(keeper), 200);
      assert.equal(await checkLogin(browserOf(account.cookies)), 401);
      for (const other of others) assert.equal(await checkLogin(other), 401);
      assert.equal(await checkLogin(browserOf(stranger.cookies)), 200, 'another account keeps its sessions');
    });

    test('end_others by Basic ends all', async () => {
      const account = await activeAccount(server.url, smtp);
      const browser = await login(account.email);

      const response = await endOthers({ headers: basicHeader(account.email) });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, {});

      assert.equal(await checkLogin(browser), 401);
      assert.equal(await checkLogin(browserOf(account.cookies)), 401);
      assert.equal((await listBody({ headers: basicHeader(account.email) })).meta.total_count, 0);
    });
  });

  describe('authentication and CSRF', () => {
    test('delete by cookie needs CSRF token', async () => {
      const account = await activeAccount(server.url, smtp);
      const target = await login(account.email, 'target');
      const id = (await listBody({ cookies: target.cookies })).objects.find((session) => session.user_agent === 'target')?.id ?? '';

      const missing = await remove(id, { cookies: account.cookies });
      assert.equal(missing.status, 403, missing.text);
      assert.equal(errorList(missing)[0]?.error_type, 'permission');

      const wrong = await remove(id, { cookies: account.cookies, headers: target.csrf });
      assert.equal(wrong.status, 403, 'the token of another session fails');

      assert.equal(await checkLogin(target), 200, 'nothing was ended');
      const allowed = await remove(id, { cookies: account.cookies, headers: browserOf(account.cookies).csrf });
      assert.equal(allowed.status, 200);
    });

    test('end_others by cookie needs CSRF token', async () => {
      const account = await activeAccount(server.url, smtp);
      const other = await login(account.email);

      const missing = await endOthers({ cookies: account.cookies });
      assert.equal(missing.status, 403, missing.text);
      assert.equal(errorList(missing)[0]?.error_type, 'permission');

      const wrong = await endOthers({ cookies: account.cookies, headers: { 'X-CSRFToken': 'x'.repeat(43) } });
      assert.equal(wrong.status, 403);
      assert.equal(await checkLogin(other), 200, 'nothing was ended');
    });

    test('unauthenticated requests get 401', async () => {
      assertUnauthenticated(await list());
      assertUnauthenticated(await list({ cookies: { sessionid: 'x'.repeat(43) } }));
      assertUnauthenticated(await remove('00000000-0000-4000-8000-000000000000'));
      assertUnauthenticated(await endOthers());
      assertUnauthenticated(await list({ headers: basicHeader('nobody@example.com', 'wrong password') }));
    });

    test('other methods get 405', async () => {
      const listPut = await request(`${server.url}${SESSIONS_PATH}`, { method: 'PUT', body: {} });
      assert.equal(listPut.status, 405);
      assert.equal(listPut.headers.get('allow'), 'GET, HEAD, OPTIONS');

      const itemGet = await request(`${server.url}${SESSIONS_PATH}00000000-0000-4000-8000-000000000000/`, { method: 'GET' });
      assert.equal(itemGet.status, 405);
      assert.equal(itemGet.headers.get('allow'), 'DELETE, OPTIONS');

      const actionGet = await request(`${server.url}${SESSIONS_PATH}action/?do=end_others`, { method: 'GET' });
      assert.equal(actionGet.status, 405);
    });

    test('unknown action is 400 on do', async () => {
      const account = await activeAccount(server.url, smtp);
      const response = await request(`${server.url}${SESSIONS_PATH}action/?do=end_all`, {
        body: {},
        cookies: account.cookies,
        headers: browserOf(account.cookies).csrf,
      });
      assert.equal(response.status, 400);
      assert.equal(errorList(response)[0]?.error_point, 'do');
    });
  });

  describe('last_seen', () => {
    async function lastSeenAt(accountUuid: string): Promise<number> {
      const [row] = await sqlRows<{ last_seen_at: number }>(server.dataDir, 'SELECT last_seen_at FROM sessions WHERE account_uuid = ?', [accountUuid]);
      assert.ok(row, 'one session row');
      return Number(row.last_seen_at);
    }

    test('last_seen is not rewritten within a minute', async () => {
      const account = await activeAccount(server.url, smtp);
      const browser = browserOf(account.cookies);
      const initial = await lastSeenAt(account.uuid);

      await delay(20);
      assert.equal(await checkLogin(browser), 200);
      assert.equal(await checkLogin(browser), 200);
      assert.equal(await lastSeenAt(account.uuid), initial, 'unchanged after requests within a minute');
    });

    test('last_seen is updated after a minute', async () => {
      const account = await activeAccount(server.url, smtp);
      const browser = browserOf(account.cookies);

      const twoMinutesAgo = Date.now() - 120_000;
      await sqlRows(server.dataDir, 'UPDATE sessions SET last_seen_at = ? WHERE account_uuid = ?', [twoMinutesAgo, account.uuid]);

      const requestedAt = Date.now();
      const body = await listBody({ cookies: browser.cookies });
      const updated = await lastSeenAt(account.uuid);
      assert.ok(updated >= requestedAt, `last_seen_at ${updated} is the time of the request, at or after ${requestedAt}`);
      assert.equal(body.objects[0]?.last_seen, isoWithOffset(updated), 'the list shows the new time');

      assert.equal(await checkLogin(browser), 200);
      assert.equal(await lastSeenAt(account.uuid), updated, 'the next request does not write again');
    });
  });
});

describe('session idle timeout', () => {
  const IDLE_SECONDS = 2;
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start(), SESSION_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS) });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('idle session ends', async () => {
    const account = await activeAccount(server.url, smtp);
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 200);

    await delay(IDLE_SECONDS * 1000 + 500);

    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 401);
    const listed = await request(`${server.url}${SESSIONS_PATH}`, { method: 'GET', headers: basicHeader(account.email) });
    assert.equal(listed.status, 200);
    assert.equal((listed.body as SessionList).meta.total_count, 0, 'an idle session is not listed');
  });

  test('session in use outlives the timeout', async () => {
    const account = await activeAccount(server.url, smtp);
    const startedAt = Date.now();

    // Each request comes within the timeout of the one before, so the session stays valid well past it.
    for (let step = 0; step < 3; step += 1) {
      await delay(1200);
      const response = await action(server.url, 'check_login', { cookies: account.cookies });
      assert.equal(response.status, 200, `request ${step + 1}, ${Date.now() - startedAt} ms after login`);
    }
    assert.ok(Date.now() - startedAt > IDLE_SECONDS * 1000);
  });
});
