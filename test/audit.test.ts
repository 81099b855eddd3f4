import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { ParsedMail } from 'mailparser';

import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request, type RequestOptions } from './helpers/client.js';
import { waitUntil } from './helpers/outbox.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { databaseUrlFor, sqlRows, testStore } from './helpers/store.js';

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const LOGS_PATH = '/api/2.0/logs/';
const NEW_PASSWORD = 'a fresh battery horse staple';
const TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const OBJECT_KEYS = ['action', 'actor', 'category', 'details', 'error_message', 'error_point', 'error_type', 'success', 'timestamp', 'uuid'];
const PUBLIC_SESSION_ID = /^session [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One row of the audit_log table. */
interface AuditRow {
  seq: number;
  created_at: number;
  type: string;
  category: string;
  actor: string | null;
  account_uuid: string | null;
  ip: string | null;
  user_agent: string | null;
  success: number;
  reason: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

interface LogObject {
  action: string;
  actor: { resource_uri: string | null; uuid: string } | null;
  category: string;
  details: string;
  error_message: string;
  error_point: string | null;
  error_type: string | null;
  success: boolean;
  timestamp: string;
  uuid: string;
}

interface LogList {
  meta: { limit: number; offset: number; total_count: number };
  objects: LogObject[];
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What a record should hold; `client` is the user agent of a request from 127.0.0.1, or null for the command line. */
interface ExpectedRecord {
  type: string;
  actor: string | null;
  account: string | null;
  client: string | null;
  reason?: string;
}

function basic(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function linkIn(mail: ParsedMail | undefined, page: 'reset' | 'email'): string {
  const match = new RegExp(`https?://\\S+/accounts/${page}/\\?token=[A-Za-z0-9_%-]+`).exec(mail?.text ?? '');
  if (!match) throw new Error(`no ${page} link in: ${mail?.text ?? '(no mail)'}`);
  return match[0];
}

/** Cookies of a response as a cookie jar, with the CSRF header that unsafe requests echo. */
function browserOf(response: ApiResponse): { cookies: { sessionid: string; csrftoken: string }; headers: Record<string, string> } {
  const cookies = { sessionid: response.cookies.sessionid?.value ?? '', csrftoken: response.cookies.csrftoken?.value ?? '' };
  return { cookies, headers: { 'X-CSRFToken': cookies.csrftoken } };
}

/** Returns a user agent that no other request of the run sends, so that a test can find its records by it. */
function agent(step: string): string {
  return `audit-test/${step}/${randomUUID()}`;
}

function assertRecord(row: AuditRow | undefined, expected: ExpectedRecord): void {
  assert.ok(row, `a ${expected.type} record exists`);
  assert.equal(row.type, expected.type);
  assert.equal(row.actor, expected.actor, `actor of ${expected.type}`);
  assert.equal(row.account_uuid, expected.account, `account of ${expected.type}`);
  assert.equal(row.ip, expected.client === null ? null : '127.0.0.1', `ip of ${expected.type}`);
  assert.equal(row.user_agent, expected.client, `user agent of ${expected.type}`);
  assert.equal(Number(row.success), expected.reason === undefined ? 1 : 0, `success of ${expected.type}`);
  assert.equal(row.reason, expected.reason ?? null, `reason of ${expected.type}`);
}

describe(`audit trail on ${testStore()}`, () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    // Throttling is off so that the many failed attempts of these tests are all processed and recorded.
    server = await startTestServer({ SMTP_URL: await smtp.start(), MAIL_THROTTLE_SECONDS: '0', THROTTLE: 'off' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  /** Runs the operator command line from the sources against the test server's database. */
  async function cli(...args: string[]): Promise<CliResult> {
    const env = { ...process.env, DATA_DIR: server.dataDir, DATABASE_URL: databaseUrlFor(server.dataDir), LOG_LEVEL: 'warn' };
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env, cwd: REPO_ROOT });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  function rows(where = '1 = 1', parameters: unknown[] = []): Promise<AuditRow[]> {
    return sqlRows<AuditRow>(server.dataDir, `SELECT * FROM audit_log WHERE ${where} ORDER BY seq`, parameters);
  }

  /** Returns the records of requests that sent the user agent `userAgent`, oldest first. */
  function rowsFrom(userAgent: string): Promise<AuditRow[]> {
    return rows('user_agent = ?', [userAgent]);
  }

  async function onlyRowFrom(userAgent: string): Promise<AuditRow | undefined> {
    const found = await rowsFrom(userAgent);
    assert.equal(found.length, 1, `one record from ${userAgent}, got ${JSON.stringify(found)}`);
    return found[0];
  }

  function send(name: string, userAgent: string, options: RequestOptions = {}): Promise<ApiResponse> {
    return action(server.url, name, { ...options, headers: { 'User-Agent': userAgent, ...options.headers } });
  }

  function logs(options: RequestOptions, query = ''): Promise<ApiResponse> {
    return request(`${server.url}${LOGS_PATH}${query}`, { method: 'GET', ...options });
  }

  describe('recorded events', () => {
    test('sign-up and confirmation', async () => {
      const email = uniqueAddress('audit-signup');

      const signUpAgent = agent('create');
      const created = await send('create', signUpAgent, { body: { email } });
      assert.equal(created.status, 200, created.text);
      const uuid = (created.body as { uuid: string }).uuid;
      assertRecord(await onlyRowFrom(signUpAgent), { type: 'create', actor: null, account: uuid, client: signUpAgent });

      const againAgent = agent('create-again');
      assert.equal((await send('create', againAgent, { body: { email } })).status, 200);
      assertRecord(await onlyRowFrom(againAgent), { type: 'create', actor: null, account: uuid, client: againAgent, reason: 'address_registered' });

      const [mail] = await smtp.waitFor(email);
      assert.ok(mail);
      const token = tokenOf(confirmationLinkIn(mail));

      const unknownAgent = agent('confirm-unknown');
      const unknown = await send('confirm', unknownAgent, { body: { token: 'A'.repeat(43), password: PASSWORD } });
      assert.equal(unknown.status, 400, unknown.text);
      assertRecord(await onlyRowFrom(unknownAgent), { type: 'confirm', actor: null, account: null, client: unknownAgent, reason: 'unknown_token' });

      const weakAgent = agent('confirm-weak');
      assert.equal((await send('confirm', weakAgent, { body: { token, password: 'short' } })).status, 400);
      assertRecord(await onlyRowFrom(weakAgent), { type: 'confirm', actor: null, account: uuid, client: weakAgent, reason: 'password_policy' });

      const confirmAgent = agent('confirm');
      const confirmed = await send('confirm', confirmAgent, { body: { token, password: PASSWORD } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assertRecord(await onlyRowFrom(confirmAgent), { type: 'confirm', actor: uuid, account: uuid, client: confirmAgent });

      const reusedAgent = agent('confirm-reused');
      assert.equal((await send('confirm', reusedAgent, { body: { token, password: PASSWORD } })).status, 400);
      assertRecord(await onlyRowFrom(reusedAgent), { type: 'confirm', actor: null, account: uuid, client: reusedAgent, reason: 'used_token' });
    });

    test('login success and failure, logout', async () => {
      const account = await activeAccount(server.url, smtp);

      const wrongAgent = agent('login-wrong');
      assert.equal((await send('login', wrongAgent, { body: { username: account.email, password: 'not the password' } })).status, 401);
      assertRecord(await onlyRowFrom(wrongAgent), { type: 'login', actor: null, account: account.uuid, client: wrongAgent, reason: 'wrong_password' });

      const unknownAgent = agent('login-unknown');
      assert.equal((await send('login', unknownAgent, { body: { username: uniqueAddress('nobody'), password: PASSWORD } })).status, 401);
      assertRecord(await onlyRowFrom(unknownAgent), { type: 'login', actor: null, account: null, client: unknownAgent, reason: 'unknown_account' });

      const loginAgent = agent('login');
      const loggedIn = await send('login', loginAgent, { body: { username: account.email, password: PASSWORD } });
      assert.equal(loggedIn.status, 200, loggedIn.text);
      const loginRow = await onlyRowFrom(loginAgent);
      assertRecord(loginRow, { type: 'login', actor: account.uuid, account: account.uuid, client: loginAgent });
      assert.match(loginRow?.details ?? '', PUBLIC_SESSION_ID);

      const logoutAgent = agent('logout');
      const browser = browserOf(loggedIn);
      const loggedOut = await send('logout', logoutAgent, { cookies: browser.cookies, headers: browser.headers });
      assert.equal(loggedOut.status, 200, loggedOut.text);
      const logoutRow = await onlyRowFrom(logoutAgent);
      assertRecord(logoutRow, { type: 'logout', actor: account.uuid, account: account.uuid, client: logoutAgent });
      assert.equal(logoutRow?.details, loginRow?.details, 'logout names the session that login started');

      const noSessionAgent = agent('logout-without-session');
      assert.equal((await send('logout', noSessionAgent)).status, 200);
      assert.deepEqual(await rowsFrom(noSessionAgent), [], 'a logout without a session changes nothing and records nothing');
    });

    test('password reset requested and done', async () => {
      const account = await activeAccount(server.url, smtp);

      const requestAgent = agent('reset-request');
      assert.equal((await send('request_password_reset', requestAgent, { body: { email: account.email } })).status, 200);
      // The reset link, and its record, are written after the response.
      await waitUntil(async () => (await rowsFrom(requestAgent)).length > 0, 'the reset request is recorded');
      assertRecord(await onlyRowFrom(requestAgent), { type: 'request_password_reset', actor: null, account: account.uuid, client: requestAgent });

      const unknownAgent = agent('reset-request-unknown');
      assert.equal((await send('request_password_reset', unknownAgent, { body: { email: uniqueAddress('nobody') } })).status, 200);
      await waitUntil(async () => (await rowsFrom(unknownAgent)).length > 0, 'the reset request for an unknown address is recorded');
      assertRecord(await onlyRowFrom(unknownAgent), {
        type: 'request_password_reset',
        actor: null,
        account: null,
        client: unknownAgent,
        reason: 'unknown_account',
      });

      const mails = await smtp.waitFor(account.email, 2);
      const token = tokenOf(linkIn(mails[mails.length - 1], 'reset'));

      const resetAgent = agent('reset');
      const reset = await send('reset_password', resetAgent, { body: { token, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, reset.text);
      assertRecord(await onlyRowFrom(resetAgent), { type: 'reset_password', actor: account.uuid, account: account.uuid, client: resetAgent });

      const reusedAgent = agent('reset-reused');
      assert.equal((await send('reset_password', reusedAgent, { body: { token, password: PASSWORD } })).status, 400);
      assertRecord(await onlyRowFrom(reusedAgent), { type: 'reset_password', actor: null, account: account.uuid, client: reusedAgent, reason: 'used_token' });
    });

    test('password change', async () => {
      const account = await activeAccount(server.url, smtp);
      const authorization = { Authorization: basic(account.email, PASSWORD) };

      const wrongAgent = agent('change-wrong');
      const wrong = await send('change_password', wrongAgent, {
        body: { old_password: 'not the password', new_password: NEW_PASSWORD },
        headers: authorization,
      });
      assert.equal(wrong.status, 400, wrong.text);
      assertRecord(await onlyRowFrom(wrongAgent), { type: 'change_password', actor: account.uuid, account: account.uuid, client: wrongAgent, reason: 'wrong_password' });

      const changeAgent = agent('change');
      const changed = await send('change_password', changeAgent, { body: { old_password: PASSWORD, new_password: NEW_PASSWORD }, headers: authorization });
      assert.equal(changed.status, 200, changed.text);
      assertRecord(await onlyRowFrom(changeAgent), { type: 'change_password', actor: account.uuid, account: account.uuid, client: changeAgent });
    });

    test('sessions ended one and others', async () => {
      const account = await activeAccount(server.url, smtp);
      const first = browserOf(await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } }));
      const second = browserOf(await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } }));

      const listed = await request(`${server.url}/api/2.0/accounts/sessions/`, { method: 'GET', cookies: second.cookies });
      const other = (listed.body as { objects: Array<{ id: string; current: boolean }> }).objects.find((session) => !session.current);
      assert.ok(other, listed.text);

      const endAgent = agent('end-session');
      const ended = await request(`${server.url}/api/2.0/accounts/sessions/${other.id}/`, {
        method: 'DELETE',
        cookies: second.cookies,
        headers: { ...second.headers, 'User-Agent': endAgent },
      });
      assert.equal(ended.status, 200, ended.text);
      const endRow = await onlyRowFrom(endAgent);
      assertRecord(endRow, { type: 'end_session', actor: account.uuid, account: account.uuid, client: endAgent });
      assert.equal(endRow?.details, `session ${other.id}`);

      const missingAgent = agent('end-session-missing');
      const missing = await request(`${server.url}/api/2.0/accounts/sessions/${randomUUID()}/`, {
        method: 'DELETE',
        cookies: second.cookies,
        headers: { ...second.headers, 'User-Agent': missingAgent },
      });
      assert.equal(missing.status, 404, missing.text);
      assertRecord(await onlyRowFrom(missingAgent), { type: 'end_session', actor: account.uuid, account: account.uuid, client: missingAgent, reason: 'unknown_session' });

      const othersAgent = agent('end-others');
      const endedOthers = await request(`${server.url}/api/2.0/accounts/sessions/action/?do=end_others`, {
        body: {},
        cookies: second.cookies,
        headers: { ...second.headers, 'User-Agent': othersAgent },
      });
      assert.equal(endedOthers.status, 200, endedOthers.text);
      assertRecord(await onlyRowFrom(othersAgent), { type: 'end_other_sessions', actor: account.uuid, account: account.uuid, client: othersAgent });
      assert.equal((await action(server.url, 'check_login', { cookies: first.cookies })).status, 401);
    });

    test('email change requested and done', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('audit-new');
      const authorization = { Authorization: basic(account.email, PASSWORD) };

      const wrongAgent = agent('change-email-wrong');
      const wrong = await send('change_email', wrongAgent, { body: { email: newEmail, password: 'not the password' }, headers: authorization });
      assert.equal(wrong.status, 400, wrong.text);
      assertRecord(await onlyRowFrom(wrongAgent), { type: 'change_email', actor: account.uuid, account: account.uuid, client: wrongAgent, reason: 'wrong_password' });

      const requestAgent = agent('change-email');
      const requested = await send('change_email', requestAgent, { body: { email: newEmail, password: PASSWORD }, headers: authorization });
      assert.equal(requested.status, 200, requested.text);
      assertRecord(await onlyRowFrom(requestAgent), { type: 'change_email', actor: account.uuid, account: account.uuid, client: requestAgent });

      const [mail] = await smtp.waitFor(newEmail);
      const token = tokenOf(linkIn(mail, 'email'));

      const confirmAgent = agent('confirm-email');
      const confirmed = await send('confirm_email', confirmAgent, { body: { token } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assertRecord(await onlyRowFrom(confirmAgent), { type: 'confirm_email', actor: account.uuid, account: account.uuid, client: confirmAgent });

      const reusedAgent = agent('confirm-email-reused');
      assert.equal((await send('confirm_email', reusedAgent, { body: { token } })).status, 400);
      assertRecord(await onlyRowFrom(reusedAgent), { type: 'confirm_email', actor: null, account: account.uuid, client: reusedAgent, reason: 'used_token' });
    });

    test('account deletion', async () => {
      const account = await activeAccount(server.url, smtp);
      const authorization = { Authorization: basic(account.email, PASSWORD) };

      const wrongAgent = agent('delete-wrong');
      assert.equal((await send('delete_account', wrongAgent, { body: { password: 'not the password' }, headers: authorization })).status, 400);
      assertRecord(await onlyRowFrom(wrongAgent), { type: 'delete_account', actor: account.uuid, account: account.uuid, client: wrongAgent, reason: 'wrong_password' });

      const deleteAgent = agent('delete');
      const deleted = await send('delete_account', deleteAgent, { body: { password: PASSWORD }, headers: authorization });
      assert.equal(deleted.status, 200, deleted.text);
      assertRecord(await onlyRowFrom(deleteAgent), { type: 'delete_account', actor: account.uuid, account: account.uuid, client: deleteAgent });
    });

    test('operator commands', async () => {
      const account = await activeAccount(server.url, smtp);
      const operator = (type: string, reason?: string): ExpectedRecord => ({ type, actor: 'operator', account: account.uuid, client: null, reason });

      /** Runs a command and returns the records it added. */
      async function recordsOf(...args: string[]): Promise<AuditRow[]> {
        const [last] = await sqlRows<{ seq: number }>(server.dataDir, 'SELECT seq FROM audit_head WHERE id = 1');
        const result = await cli(...args);
        assert.ok(result.code === 0 || result.code === 1, `${args.join(' ')}: ${result.stderr}`);
        return rows('seq > ?', [last?.seq ?? 0]);
      }

      let added = await recordsOf('accounts', 'disable', account.uuid);
      assert.equal(added.length, 1);
      assertRecord(added[0], operator('disable_account'));

      added = await recordsOf('accounts', 'enable', account.uuid);
      assertRecord(added[0], operator('enable_account'));

      added = await recordsOf('accounts', 'set-state', account.uuid, 'REGULAR');
      assertRecord(added[0], operator('set_account_state'));
      assert.equal(added[0]?.details, 'state REGULAR');

      added = await recordsOf('sessions', 'end', account.uuid);
      assertRecord(added[0], operator('end_all_sessions'));

      const code = `AUDIT${Date.now()}`;
      added = await recordsOf('promo', 'create', code);
      assertRecord(added[0], { type: 'create_promo', actor: 'operator', account: null, client: null });
      assert.equal(added[0]?.details, `code ${code}`);

      added = await recordsOf('promo', 'create', code);
      assertRecord(added[0], { type: 'create_promo', actor: 'operator', account: null, client: null, reason: 'already_exists' });

      added = await recordsOf('promo', 'disable', code);
      assertRecord(added[0], { type: 'disable_promo', actor: 'operator', account: null, client: null });

      const [message] = await sqlRows<{ id: string }>(server.dataDir, 'SELECT id FROM outbox WHERE recipient = ?', [account.email]);
      assert.ok(message);
      await sqlRows(server.dataDir, 'UPDATE outbox SET sent_at = NULL, failed_at = ? WHERE id = ?', [Date.now(), message.id]);
      added = await recordsOf('mail', 'retry', message.id);
      assertRecord(added[0], { type: 'retry_mail', actor: 'operator', account: null, client: null });
      assert.equal(added[0]?.details, `message ${message.id}`);

      added = await recordsOf('accounts', 'delete', account.uuid);
      assertRecord(added[0], operator('delete_account'));

      added = await recordsOf('accounts', 'disable', account.uuid);
      assertRecord(added[0], operator('disable_account', 'invalid_state'));
    });
  });

  test('records hold no secrets', async () => {
    const email = uniqueAddress('audit-secrets');
    const newEmail = uniqueAddress('audit-secrets-new');
    const secrets: string[] = [PASSWORD, NEW_PASSWORD];

    const account = await activeAccount(server.url, smtp, email);
    secrets.push(tokenOf(confirmationLinkIn((await smtp.waitFor(email))[0]!)));
    secrets.push(account.cookies.sessionid ?? '', account.cookies.csrftoken ?? '');

    const failedLogin = await action(server.url, 'login', { body: { username: email, password: `${PASSWORD}!` } });
    assert.equal(failedLogin.status, 401);
    secrets.push(`${PASSWORD}!`);

    const loggedIn = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    const browser = browserOf(loggedIn);
    secrets.push(browser.cookies.sessionid, browser.cookies.csrftoken);
    assert.equal((await action(server.url, 'logout', { cookies: browser.cookies, headers: browser.headers })).status, 200);

    assert.equal((await action(server.url, 'request_password_reset', { body: { email } })).status, 200);
    const resetMails = await smtp.waitFor(email, 2);
    const resetToken = tokenOf(linkIn(resetMails[resetMails.length - 1], 'reset'));
    const reset = await action(server.url, 'reset_password', { body: { token: resetToken, password: NEW_PASSWORD } });
    assert.equal(reset.status, 200, reset.text);
    secrets.push(resetToken, reset.cookies.sessionid?.value ?? '', reset.cookies.csrftoken?.value ?? '');

    const authorization = basic(email, NEW_PASSWORD);
    secrets.push(authorization, authorization.slice('Basic '.length));
    const changed = await action(server.url, 'change_email', { body: { email: newEmail, password: NEW_PASSWORD }, headers: { Authorization: authorization } });
    assert.equal(changed.status, 200, changed.text);
    const emailToken = tokenOf(linkIn((await smtp.waitFor(newEmail))[0], 'email'));
    secrets.push(emailToken);
    assert.equal((await action(server.url, 'confirm_email', { body: { token: emailToken } })).status, 200);

    const deleted = await action(server.url, 'delete_account', { body: { password: NEW_PASSWORD }, headers: { Authorization: basic(newEmail, NEW_PASSWORD) } });
    assert.equal(deleted.status, 200, deleted.text);

    const all = await rows();
    const own = all.filter((row) => row.account_uuid === account.uuid);
    assert.ok(own.length >= 9, `the flow left its records: ${own.map((row) => row.type).join(', ')}`);

    // Session ids and tokens are stored elsewhere as SHA-256 digests, which must not appear here either.
    const forbidden = [...secrets, ...secrets.map(sha256), email, newEmail, email.split('@')[0] ?? email];
    const raw = JSON.stringify([...all, ...(await sqlRows(server.dataDir, 'SELECT * FROM audit_head'))]);
    for (const secret of forbidden) {
      assert.ok(secret.length >= 8, `secret ${JSON.stringify(secret)} is long enough to search for`);
      assert.equal(raw.includes(secret), false, `the audit trail contains ${JSON.stringify(secret)}`);
    }
  });

  describe('GET /api/2.0/logs/', () => {
    test('returns own events in CloudSigma format', async () => {
      const account = await activeAccount(server.url, smtp);
      const stranger = await activeAccount(server.url, smtp);
      assert.equal((await action(server.url, 'login', { body: { username: account.email, password: 'not the password' } })).status, 401);
      assert.equal((await action(server.url, 'login', { body: { username: stranger.email, password: PASSWORD } })).status, 200);
      assert.equal((await cli('accounts', 'set-state', account.uuid, 'REGULAR')).code, 0);

      const response = await logs({ headers: { Authorization: basic(account.email, PASSWORD) } }, '?limit=0');
      assert.equal(response.status, 200, response.text);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      const body = response.body as LogList;
      assert.deepEqual(Object.keys(body).sort(), ['meta', 'objects']);

      const stored = (await rows('account_uuid = ?', [account.uuid])).reverse();
      assert.deepEqual(body.meta, { limit: 0, offset: 0, total_count: stored.length });
      assert.deepEqual(
        body.objects.map((object) => object.action),
        stored.map((row) => row.type),
        'newest first, the same records as stored',
      );
      assert.deepEqual(body.objects.map((object) => object.action), ['set_account_state', 'login', 'confirm', 'create']);

      for (const object of body.objects) {
        assert.deepEqual(Object.keys(object).sort(), OBJECT_KEYS);
        assert.equal(object.uuid, account.uuid, 'only events about the caller');
        assert.match(object.timestamp, TIMESTAMP);
        assert.equal(object.category, 'Accounts');
      }
      const timestamps = body.objects.map((object) => object.timestamp);
      assert.deepEqual(timestamps, [...timestamps].sort().reverse());

      const [stateChange, failedLogin, confirmation] = body.objects;
      assert.deepEqual(stateChange?.actor, { resource_uri: null, uuid: 'operator' });
      assert.equal(stateChange?.success, true);
      assert.equal(stateChange?.error_type, null);
      assert.equal(stateChange?.error_message, '');
      assert.equal(stateChange?.details, 'state REGULAR');

      assert.equal(failedLogin?.actor, null);
      assert.equal(failedLogin?.success, false);
      assert.equal(failedLogin?.error_type, 'permission');
      assert.equal(failedLogin?.error_point, null);
      assert.match(failedLogin?.error_message ?? '', /password/);
      assert.match(failedLogin?.details ?? '', /IP 127\.0\.0\.1; user agent node/);

      assert.deepEqual(confirmation?.actor, { resource_uri: `/api/2.0/user/${account.uuid}/`, uuid: account.uuid });
      assert.equal(confirmation?.success, true);

      const strangers = await logs({ headers: { Authorization: basic(stranger.email, PASSWORD) } }, '?limit=0');
      const strangerObjects = (strangers.body as LogList).objects;
      assert.ok(strangerObjects.length > 0);
      assert.ok(strangerObjects.every((object) => object.uuid === stranger.uuid));
    });

    test('pages with limit and offset', async () => {
      const account = await activeAccount(server.url, smtp);
      for (let attempt = 0; attempt < 3; attempt += 1) {
        await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
      }
      const options = { headers: { Authorization: basic(account.email, PASSWORD) } };
      const everything = ((await logs(options, '?limit=0')).body as LogList).objects;
      assert.equal(everything.length, 5, 'create, confirm and three logins');

      const first = await logs(options, '?limit=2');
      assert.equal(first.status, 200, first.text);
      assert.deepEqual((first.body as LogList).meta, { limit: 2, offset: 0, total_count: 5 });

      const pages: LogObject[] = [];
      for (const offset of [0, 2, 4]) {
        const page = (await logs(options, `?limit=2&offset=${offset}`)).body as LogList;
        assert.deepEqual(page.meta, { limit: 2, offset, total_count: 5 });
        pages.push(...page.objects);
      }
      assert.deepEqual(pages, everything);

      const byDefault = (await logs(options)).body as LogList;
      assert.deepEqual(byDefault.meta, { limit: 20, offset: 0, total_count: 5 });

      const tooMany = await logs(options, '?limit=101');
      assert.equal(tooMany.status, 400);
      assert.equal(errorList(tooMany)[0]?.error_point, 'limit');
    });

    test('needs authentication and allows only GET', async () => {
      const anonymous = await logs({});
      assert.equal(anonymous.status, 401);
      assert.equal(errorList(anonymous)[0]?.error_type, 'permission');

      const account = await activeAccount(server.url, smtp);
      const posted = await request(`${server.url}${LOGS_PATH}`, { body: {}, headers: { Authorization: basic(account.email, PASSWORD) } });
      assert.equal(posted.status, 405);
      assert.equal(posted.headers.get('allow'), 'GET, HEAD, OPTIONS');
    });

    test('schema lists the fields', async () => {
      const response = await request(`${server.url}${LOGS_PATH}schema/`, { method: 'GET' });
      assert.equal(response.status, 200, response.text);
      const schema = response.body as { fields: Record<string, { type: string }>; allowed_list_http_methods: string[]; default_limit: number };
      assert.deepEqual(Object.keys(schema.fields).sort(), OBJECT_KEYS);
      assert.deepEqual(schema.allowed_list_http_methods, ['get']);
      assert.equal(schema.default_limit, 20);
      assert.equal(schema.fields.actor?.type, 'related');
      assert.equal(schema.fields.success?.type, 'boolean');
    });
  });

  describe('audit verify', () => {
    async function verify(): Promise<CliResult & { report: { intact: boolean; checked: number; broken: { seq: number; problem: string } | null } }> {
      const result = await cli('audit', 'verify', '--json');
      return { ...result, report: JSON.parse(result.stdout) as never };
    }

    /** Asserts that verification fails naming record `seq`, in the JSON report and the error line. */
    async function assertBrokenAt(seq: number, label: string): Promise<void> {
      const result = await verify();
      assert.equal(result.code, 1, `${label}: ${result.stderr}`);
      assert.equal(result.report.intact, false, label);
      assert.equal(result.report.broken?.seq, seq, `${label}: ${result.report.broken?.problem}`);
      assert.match(result.stderr, new RegExp(`^sigma-accounts: audit chain broken at record ${seq}:`), label);

      const text = await cli('audit', 'verify');
      assert.equal(text.code, 1, label);
      assert.match(text.stderr, new RegExp(`record ${seq}\\b`), label);
    }

    async function assertIntact(label: string): Promise<void> {
      const result = await verify();
      assert.equal(result.code, 0, `${label}: ${result.stderr}`);
      assert.equal(result.report.intact, true, label);
      assert.equal(result.report.broken, null, label);
    }

    async function insertRow(row: AuditRow): Promise<void> {
      const columns = Object.keys(row);
      await sqlRows(
        server.dataDir,
        `INSERT INTO audit_log (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        Object.values(row),
      );
    }

    test('passes on an intact chain', async () => {
      await activeAccount(server.url, smtp);
      const result = await verify();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.report.intact, true);
      assert.equal(result.report.checked, (await rows()).length);

      const text = await cli('audit', 'verify');
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /status:\s+intact/);

      const help = await cli('audit', 'verify', '--help');
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: sigma-accounts audit verify/);
    });

    test('finds an edited record', async () => {
      await activeAccount(server.url, smtp);
      const all = await rows();
      const target = all[Math.floor(all.length / 2)]!;

      await sqlRows(server.dataDir, 'UPDATE audit_log SET actor = ? WHERE seq = ?', ['someone-else', target.seq]);
      await assertBrokenAt(target.seq, 'edited actor');

      await sqlRows(server.dataDir, 'UPDATE audit_log SET actor = ? WHERE seq = ?', [target.actor, target.seq]);
      await assertIntact('edit undone');
    });

    test('finds a deleted record', async () => {
      await activeAccount(server.url, smtp);
      const all = await rows();
      const target = all[Math.floor(all.length / 2)]!;
      const last = all[all.length - 1]!;

      await sqlRows(server.dataDir, 'DELETE FROM audit_log WHERE seq = ?', [target.seq]);
      await assertBrokenAt(target.seq, 'deleted from the middle');
      await insertRow(target);
      await assertIntact('middle record restored');

      await sqlRows(server.dataDir, 'DELETE FROM audit_log WHERE seq = ?', [last.seq]);
      await assertBrokenAt(last.seq, 'deleted at the end');
      await insertRow(last);
      await assertIntact('last record restored');
    });

    test('finds reordered records', async () => {
      await activeAccount(server.url, smtp);
      const all = await rows();
      const first = all[Math.floor(all.length / 2)]!;
      const second = all[Math.floor(all.length / 2) + 1]!;

      const swap = async () => {
        await sqlRows(server.dataDir, 'UPDATE audit_log SET seq = ? WHERE seq = ?', [-1, first.seq]);
        await sqlRows(server.dataDir, 'UPDATE audit_log SET seq = ? WHERE seq = ?', [first.seq, second.seq]);
        await sqlRows(server.dataDir, 'UPDATE audit_log SET seq = ? WHERE seq = ?', [second.seq, -1]);
      };

      await swap();
      await assertBrokenAt(first.seq, 'two records swapped');
      await swap();
      await assertIntact('order restored');
    });
  });

  test('parallel logins keep the chain linear', async () => {
    const account = await activeAccount(server.url, smtp);
    // On PostgreSQL a second node shares the database, so appends race across nodes too. Two servers on one
    // SQLite file in one process would block each other's event loop on the file lock, so SQLite gets one.
    const second = testStore() === 'postgres' ? await startTestServer({ DATA_DIR: server.dataDir, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, THROTTLE: 'off' }) : null;

    try {
      const nodes = [server.url, second?.url ?? server.url];
      const attempts = Array.from({ length: 30 }, (_, index) => {
        const password = index % 3 === 2 ? 'not the password' : PASSWORD;
        return action(nodes[index % 2]!, 'login', { body: { username: account.email, password } });
      });
      const responses = await Promise.all(attempts);
      assert.deepEqual(
        responses.map((response) => response.status),
        Array.from({ length: 30 }, (_, index) => (index % 3 === 2 ? 401 : 200)),
      );
    } finally {
      await second?.stop();
    }

    const logins = await rows("account_uuid = ? AND type = 'login'", [account.uuid]);
    assert.equal(logins.filter((row) => Number(row.success) === 1).length, 20);
    assert.equal(logins.filter((row) => row.reason === 'wrong_password').length, 10);

    const all = await rows();
    assert.deepEqual(
      all.map((row) => row.seq),
      all.map((_, index) => index + 1),
      'seqs run from 1 without gaps',
    );
    for (let index = 1; index < all.length; index += 1) {
      assert.equal(all[index]?.prev_hash, all[index - 1]?.hash, `record ${all[index]?.seq} links to the one before`);
    }

    const result = await cli('audit', 'verify', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { checked: number }).checked, all.length);
  });
});
