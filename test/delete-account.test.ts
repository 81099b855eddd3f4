import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, errorPoints, request } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { countRows, sqlRows } from './helpers/store.js';

const CHECK_LOGIN_TARGET = '/api/2.0/accounts/action/?do=check_login';

type Account = Awaited<ReturnType<typeof activeAccount>>;

function basic(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

describe('account deletion', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    // The default one-minute throttle stays on, so a new sign-up right after deletion shows that the
    // throttle of the address went with the account.
    server = await startTestServer({ SMTP_URL: smtpUrl, MAIL_THROTTLE_SECONDS: '60', DIGEST_AUTH: 'on' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  function deleteAccount(account: Account, body: unknown = { password: account.password }, headers: Record<string, string> = {}): Promise<ApiResponse> {
    return action(server.url, 'delete_account', {
      body,
      cookies: account.cookies,
      headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '', ...headers },
    });
  }

  async function loginCookies(email: string, password = PASSWORD): Promise<Record<string, string>> {
    const login = await action(server.url, 'login', { body: { username: email, password } });
    assert.equal(login.status, 200, login.text);
    return Object.fromEntries(Object.entries(login.cookies).map(([name, cookie]) => [name, cookie.value]));
  }

  /** Sends check_login with an MD5 Digest response to a fresh challenge, as curl --digest does. */
  async function digestCheckLogin(email: string, password: string): Promise<number> {
    const challenge = await action(server.url, 'check_login');
    const header = challenge.headers.get('www-authenticate') ?? '';
    const nonce = /nonce="([^"]+)"/.exec(header)?.[1];
    const realm = /realm="([^"]+)"/.exec(header)?.[1];
    const opaque = /opaque="([^"]+)"/.exec(header)?.[1];
    assert.ok(nonce, `a nonce in ${header}`);
    assert.ok(realm, `a realm in ${header}`);
    assert.ok(opaque, `an opaque value in ${header}`);

    const cnonce = randomBytes(8).toString('hex');
    const count = '00000001';
    const ha1 = md5(`${email}:${realm}:${password}`);
    const ha2 = md5(`POST:${CHECK_LOGIN_TARGET}`);
    const response = md5(`${ha1}:${nonce}:${count}:${cnonce}:auth:${ha2}`);
    const authorization =
      `Digest username="${email}", realm="${realm}", nonce="${nonce}", uri="${CHECK_LOGIN_TARGET}", qop=auth, ` +
      `nc=${count}, cnonce="${cnonce}", response="${response}", algorithm=MD5, opaque="${opaque}"`;

    const answer = await request(`${server.url}${CHECK_LOGIN_TARGET}`, { body: {}, headers: { Authorization: authorization } });
    return answer.status;
  }

  test('deletes account and ends sessions', async () => {
    const account = await activeAccount(server.url, smtp);
    const otherClient = await loginCookies(account.email);
    assert.equal((await action(server.url, 'check_login', { cookies: otherClient })).status, 200);

    const response = await deleteAccount(account);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, {});
    for (const name of ['sessionid', 'csrftoken']) {
      assert.equal(response.cookies[name]?.value, '', `${name} is emptied`);
      assert.match(response.cookies[name]?.attributes ?? '', /max-age=0/, `${name} expires`);
    }

    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 401, 'the deleting session ended');
    assert.equal((await action(server.url, 'check_login', { cookies: otherClient })).status, 401, 'the other client is logged out');
    assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM sessions WHERE account_uuid = ?', account.uuid), 0);
  });

  test('tombstone keeps no personal data', async () => {
    const account = await activeAccount(server.url, smtp);
    const headers = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };

    // Fill every place that contains personal data: the profile, the promo code, a pending email change
    // (a token carrying the new address) and mail in the outbox.
    const profile = await request(`${server.url}/api/2.0/profile/`, { method: 'PUT', cookies: account.cookies, headers, body: { first_name: 'Ada' } });
    assert.equal(profile.status, 200, profile.text);
    await sqlRows(server.dataDir, 'UPDATE accounts SET promo = ? WHERE uuid = ?', ['SPRING', account.uuid]);
    const newEmail = uniqueAddress('pending-change');
    const changed = await action(server.url, 'change_email', { body: { email: newEmail, password: PASSWORD }, cookies: account.cookies, headers });
    assert.equal(changed.status, 200, changed.text);

    assert.ok(await countRows(server.dataDir, 'SELECT count(*) FROM tokens WHERE account_uuid = ?', account.uuid) > 0);
    assert.ok(await countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE lower(recipient) = ?', account.email.toLowerCase()) > 0);
    const [before] = await sqlRows<{ digest_ha1_md5: string | null }>(server.dataDir, 'SELECT digest_ha1_md5 FROM accounts WHERE uuid = ?', [account.uuid]);
    assert.ok(before?.digest_ha1_md5, 'Digest hashes exist before deletion');

    const startedAt = Date.now();
    const response = await deleteAccount(account);
    assert.equal(response.status, 200, response.text);

    const rows = await sqlRows<Record<string, unknown>>(server.dataDir, 'SELECT * FROM accounts WHERE uuid = ?', [account.uuid]);
    assert.equal(rows.length, 1, 'the row stays, so the uuid is never reused');
    const row = rows[0]!;
    assert.equal(row.state, 'deleted');
    assert.equal(typeof row.deleted_at, 'number', 'deleted_at is set');
    assert.ok((row.deleted_at as number) >= startedAt, `deleted_at ${String(row.deleted_at)} is the time of deletion`);
    assert.equal(row.email, `deleted:${account.uuid}`);
    assert.equal(row.email_key, `deleted:${account.uuid}`);
    assert.equal(row.password_hash, null);
    assert.equal(row.digest_ha1_md5, null);
    assert.equal(row.digest_ha1_sha256, null);
    assert.equal(row.promo, null);
    assert.equal(row.profile, '{}');
    const text = JSON.stringify(row).toLowerCase();
    assert.ok(!text.includes(account.email.toLowerCase()), 'the address appears nowhere in the row');
    assert.ok(!text.includes('first_name'), 'the profile appears nowhere in the row');

    assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM tokens WHERE account_uuid = ?', account.uuid), 0);
    assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE lower(recipient) = ?', account.email.toLowerCase()), 0);
    assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM mail_throttle WHERE email_key = ?', account.email.toLowerCase()), 0);
    assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM sessions WHERE account_uuid = ?', account.uuid), 0);
  });

  test('old credentials fail everywhere', async () => {
    const account = await activeAccount(server.url, smtp);
    assert.equal(await digestCheckLogin(account.email, PASSWORD), 200, 'Digest works before deletion');
    assert.equal((await action(server.url, 'check_login', { headers: { Authorization: basic(account.email, PASSWORD) } })).status, 200);

    assert.equal((await deleteAccount(account)).status, 200);

    const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assert.equal(login.status, 401);
    assert.equal(login.cookies.sessionid, undefined, 'no session is issued');

    const byBasic = await action(server.url, 'check_login', { headers: { Authorization: basic(account.email, PASSWORD) } });
    assert.equal(byBasic.status, 401);
    const byBody = await action(server.url, 'check_login_with_return_uuid', { body: { username: account.email, password: PASSWORD } });
    assert.equal(byBody.status, 401);
    assert.equal(await digestCheckLogin(account.email, PASSWORD), 401, 'Digest fails after deletion');

    // The tombstone's own placeholder is not a login name either, with any password.
    const byTombstone = await action(server.url, 'login', { body: { username: `deleted:${account.uuid}`, password: PASSWORD } });
    assert.equal(byTombstone.status, 401);
  });

  test('address can sign up again', async () => {
    const account = await activeAccount(server.url, smtp);
    assert.equal((await deleteAccount(account)).status, 200);
    const mailsBefore = smtp.to(account.email).length;

    const created = await action(server.url, 'create', { body: { email: account.email } });
    assert.equal(created.status, 200, created.text);
    const newUuid = (created.body as { uuid: string }).uuid;
    assert.notEqual(newUuid, account.uuid);

    // Within the minute of the first sign-up mail: this arrives only because deletion dropped the throttle.
    const mails = await smtp.waitFor(account.email, mailsBefore + 1);
    const token = tokenOf(confirmationLinkIn(mails[mails.length - 1]!));
    const newPassword = `${PASSWORD} second life`;
    const confirmed = await action(server.url, 'confirm', { body: { token, password: newPassword } });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.deepEqual(confirmed.body, { uuid: newUuid });

    const login = await action(server.url, 'login', { body: { username: account.email, password: newPassword } });
    assert.equal(login.status, 200);
    assert.deepEqual(login.body, { uuid: newUuid });
    const oldLogin = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assert.equal(oldLogin.status, 401, 'the old password does not open the new account');

    const [tombstone] = await sqlRows<{ state: string }>(server.dataDir, 'SELECT state FROM accounts WHERE uuid = ?', [account.uuid]);
    assert.equal(tombstone?.state, 'deleted', 'the old uuid stays a tombstone');
  });

  test('Basic caller needs no CSRF token', async () => {
    const account = await activeAccount(server.url, smtp);

    const response = await action(server.url, 'delete_account', {
      body: { password: PASSWORD },
      headers: { Authorization: basic(account.email, PASSWORD) },
    });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, {});
    assert.equal(response.cookies.sessionid?.value, '', 'cookies expire whatever the credentials');
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 401);
  });

  test('wrong password is 400', async () => {
    const account = await activeAccount(server.url, smtp);

    const verificationsBefore = server.hasher.verifications;
    const response = await deleteAccount(account, { password: `${PASSWORD}!` });
    assert.equal(server.hasher.verifications - verificationsBefore, 1, 'exactly one password verification');

    assert.equal(response.status, 400);
    assert.deepEqual(errorPoints(response), ['password']);
    assert.equal(errorList(response)[0]?.error_type, 'validation');
    assert.equal(response.cookies.sessionid, undefined, 'cookies are kept');
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 200, 'the account is intact');
  });

  test('malformed bodies are 400', async () => {
    const account = await activeAccount(server.url, smtp);
    const cases: Array<{ body: unknown; points: Array<string | null> }> = [
      { body: {}, points: ['password'] },
      { body: { password: 12345678 }, points: ['password'] },
      { body: { password: null }, points: ['password'] },
      { body: { password: PASSWORD, confirm: true }, points: ['confirm'] },
      { body: 'password', points: [null] },
    ];

    for (const { body, points } of cases) {
      const response = await deleteAccount(account, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.deepEqual(errorPoints(response), points, JSON.stringify(body));
    }
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 200, 'the account is intact');
  });

  test('missing CSRF token is 403', async () => {
    const account = await activeAccount(server.url, smtp);

    const missing = await action(server.url, 'delete_account', { body: { password: PASSWORD }, cookies: account.cookies });
    assert.equal(missing.status, 403);
    assert.equal(errorList(missing)[0]?.error_type, 'permission');

    const wrong = await deleteAccount(account, { password: PASSWORD }, { 'X-CSRFToken': randomBytes(32).toString('base64url') });
    assert.equal(wrong.status, 403);
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 200, 'the account is intact');
  });

  test('unauthenticated caller is 401', async () => {
    const response = await action(server.url, 'delete_account', { body: { password: PASSWORD } });
    assert.equal(response.status, 401);
    assert.equal(errorList(response)[0]?.error_type, 'permission');
    assert.match(response.headers.get('www-authenticate') ?? '', /Basic/);
  });
});
