import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import type { ParsedMail } from 'mailparser';
import type { Browser } from 'playwright-core';

import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { startTags, textOf } from './helpers/html.js';
import { sleep } from './helpers/outbox.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { countRows, sqlRows } from './helpers/store.js';

const PUBLIC_URL = 'http://accounts.test:8080';
const NEW_PASSWORD = 'a brand new passphrase 42';
const OTHER_PASSWORD = 'yet another passphrase 77';
const RESET_SUBJECT = /^Reset your sigma-accounts password$/;
const NOTICE_SUBJECT = /^Your sigma-accounts password was changed$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// Long enough for a queued reset email to reach the outbox, which takes a few milliseconds.
const BACKGROUND_SETTLE_MS = 500;


function basic(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
}

/** Finds the password reset link in a message's text part. */
function resetLinkIn(mail: ParsedMail): string {
  const match = /https?:\/\/\S+\/accounts\/reset\/\?token=[A-Za-z0-9_%-]+/.exec(mail.text ?? '');
  if (!match) throw new Error(`no reset link in: ${mail.text ?? '(no text part)'}`);
  return match[0];
}

/** Asserts a 400 error list with exactly these error points. */
function assertValidation(response: ApiResponse, points: Array<string | null>, label: string): void {
  assert.equal(response.status, 400, `${label}: ${response.text}`);
  const entries = errorList(response);
  assert.deepEqual(
    entries.map((entry) => entry.error_point),
    points,
    label,
  );
  for (const entry of entries) assert.equal(entry.error_type, 'validation', label);
}

function errorMessage(response: ApiResponse): string {
  return errorList(response)[0]?.error_message ?? '';
}

function cookieValues(response: ApiResponse): Record<string, string> {
  return Object.fromEntries(Object.entries(response.cookies).map(([name, cookie]) => [name, cookie.value]));
}

describe('password reset and change', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    // Throttling is off here so that one address can get several emails. The throttle has a server of its own below.
    server = await startTestServer({ SMTP_URL: smtpUrl, PUBLIC_URL, MAIL_THROTTLE_SECONDS: '0' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  function mailsTo(email: string, subject: RegExp): ParsedMail[] {
    return smtp.to(email).filter((mail) => subject.test(mail.subject ?? ''));
  }

  /** Waits until `email` has received `count` messages whose subject matches, and returns the last one. */
  async function waitForMail(email: string, subject: RegExp, count: number): Promise<ParsedMail> {
    const deadline = Date.now() + 10_000;
    while (mailsTo(email, subject).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} message(s) to ${email} matching ${subject}, got ${mailsTo(email, subject).length}`);
      }
      await sleep(50);
    }
    const mail = mailsTo(email, subject)[count - 1];
    assert.ok(mail);
    return mail;
  }

  /** Requests a reset for `email` and returns the token of the link that arrives. */
  async function resetToken(email: string): Promise<string> {
    const already = mailsTo(email, RESET_SUBJECT).length;
    const requested = await action(server.url, 'request_password_reset', { body: { email } });
    assert.equal(requested.status, 200, requested.text);

    const mail = await waitForMail(email, RESET_SUBJECT, already + 1);
    return tokenOf(resetLinkIn(mail));
  }

  function onTestServer(link: string): string {
    const url = new URL(link);
    return `${server.url}${url.pathname}${url.search}`;
  }

  function openResetPage(token: string): Promise<ApiResponse> {
    const url = `${server.url}/accounts/reset/?token=${encodeURIComponent(token)}`;
    return request(url, { method: 'GET', headers: { Accept: 'text/html' } });
  }

  async function loginStatus(email: string, password: string): Promise<number> {
    return (await action(server.url, 'login', { body: { username: email, password } })).status;
  }

  async function checkLoginStatus(cookies: Record<string, string>): Promise<number> {
    return (await action(server.url, 'check_login', { cookies })).status;
  }

  async function resetTokenCount(uuid: string): Promise<number> {
    return countRows(server.dataDir, "SELECT count(*) FROM tokens WHERE account_uuid = ? AND purpose = 'reset'", uuid);
  }

  describe('request_password_reset', () => {
    test('active address gets reset link', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-link'));

      const requested = await action(server.url, 'request_password_reset', { body: { email: account.email } });
      assert.equal(requested.status, 200, requested.text);
      assert.deepEqual(requested.body, {});

      const mail = await waitForMail(account.email, RESET_SUBJECT, 1);
      const link = resetLinkIn(mail);
      assert.ok(link.startsWith(`${PUBLIC_URL}/accounts/reset/?token=`), link);
      const token = tokenOf(link);
      assert.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, URL-safe base64');
      assert.ok(mail.html, 'mail has an HTML part');
      assert.ok(mail.html.includes(`href="${link}"`), 'HTML part links to the same page');
      assert.match(mail.text ?? '', /expires in 1 hour/);

      const rows = await sqlRows<{ digest: string; created_at: number; expires_at: number; used_at: number | null }>(
        server.dataDir,
        "SELECT digest, created_at, expires_at, used_at FROM tokens WHERE account_uuid = ? AND purpose = 'reset'",
        [account.uuid],
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.digest, createHash('sha256').update(token).digest('hex'), 'only the digest is stored');
      assert.equal((rows[0]?.expires_at ?? 0) - (rows[0]?.created_at ?? 0), 3600 * 1000, 'expires after RESET_TOKEN_TTL_SECONDS');
      assert.equal(rows[0]?.used_at, null);
    });

    test('every address gets same answer', async () => {
      const active = await activeAccount(server.url, smtp, uniqueAddress('same-active'));
      const pendingEmail = uniqueAddress('same-pending');
      const pending = await signUp(server.url, smtp, pendingEmail);
      const disabled = await activeAccount(server.url, smtp, uniqueAddress('same-disabled'));
      await sqlRows(server.dataDir, "UPDATE accounts SET state = 'disabled' WHERE uuid = ?", [disabled.uuid]);

      const cases = [
        { label: 'unknown', email: uniqueAddress('same-unknown'), uuid: null },
        { label: 'pending', email: pendingEmail, uuid: pending.uuid },
        { label: 'disabled', email: disabled.email, uuid: disabled.uuid },
        { label: 'active', email: active.email, uuid: active.uuid },
      ];
      const outboxBefore = new Map<string, number>();
      for (const { email } of cases) {
        outboxBefore.set(email, await countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE recipient = ?', email));
      }

      const responses = [];
      for (const { label, email } of cases) {
        const response = await action(server.url, 'request_password_reset', { body: { email } });
        assert.equal(response.status, 200, `${label}: ${response.text}`);
        responses.push({ label, response });
      }
      for (const { label, response } of responses) {
        assert.equal(response.text, '{}', label);
        assert.equal(response.headers.get('content-type'), responses[0]?.response.headers.get('content-type'), label);
        assert.equal(Object.keys(response.cookies).length, 0, `${label} sets no cookie`);
      }

      // Once the active account's link has arrived, any email for the others would have been queued too.
      await waitForMail(active.email, RESET_SUBJECT, 1);
      await sleep(BACKGROUND_SETTLE_MS);
      for (const { label, email, uuid } of cases.slice(0, 3)) {
        const outboxAfter = await countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE recipient = ?', email);
        assert.equal(outboxAfter, outboxBefore.get(email), `${label}: no email queued`);
        if (uuid) assert.equal(await resetTokenCount(uuid), 0, `${label}: no reset token`);
        assert.equal(mailsTo(email, RESET_SUBJECT).length, 0, `${label}: no reset email arrived`);
      }
    });

    test('malformed requests are rejected', async () => {
      const cases: Array<{ label: string; body: unknown; points: Array<string | null> }> = [
        { label: 'missing email', body: {}, points: ['email'] },
        { label: 'email of wrong type', body: { email: 42 }, points: ['email'] },
        { label: 'email null', body: { email: null }, points: ['email'] },
        { label: 'unknown field', body: { email: 'someone@example.com', username: 'x' }, points: ['username'] },
        { label: 'invalid address', body: { email: 'not an address' }, points: ['email'] },
        { label: 'array body', body: [], points: [null] },
      ];
      for (const { label, body, points } of cases) {
        assertValidation(await action(server.url, 'request_password_reset', { body }), points, label);
      }
    });
  });

  describe('reset_password', () => {
    test('reset sets password and logs in', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-ok'));
      const token = await resetToken(account.email);

      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, reset.text);
      assert.deepEqual(reset.body, { uuid: account.uuid });
      assert.match(account.uuid, UUID);

      const session = reset.cookies.sessionid;
      const csrf = reset.cookies.csrftoken;
      assert.ok(session?.value, 'sessionid is set');
      assert.ok(csrf?.value, 'csrftoken is set');
      assert.match(session.attributes, /httponly/);
      assert.match(session.attributes, /samesite=lax/);
      assert.match(session.attributes, /path=\//);
      assert.doesNotMatch(csrf.attributes, /httponly/);
      assert.equal(await checkLoginStatus(cookieValues(reset)), 200, 'new session works');

      assert.equal(await loginStatus(account.email, NEW_PASSWORD), 200, 'new password logs in');
      assert.equal(await loginStatus(account.email, PASSWORD), 401, 'old password no longer does');

      const [row] = await sqlRows<{ used_at: number | null }>(server.dataDir, 'SELECT used_at FROM tokens WHERE digest = ?', [
        createHash('sha256').update(token).digest('hex'),
      ]);
      assert.notEqual(row?.used_at, null, 'token is marked used');
    });

    test('password-changed notice arrives after reset', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-notice'));
      const token = await resetToken(account.email);

      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, reset.text);

      const notice = await waitForMail(account.email, NOTICE_SUBJECT, 1);
      assert.match(notice.text ?? '', /reset link/);
      assert.match(notice.text ?? '', /logged out/);
      assert.doesNotMatch(notice.text ?? '', /token=/, 'the notice carries no link that sets a password');
      assert.ok(notice.html, 'notice has an HTML part');
      assert.match(textOf(notice.html), /was changed on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    });

    test('reset ends sessions of other clients', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-sessions'));
      const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
      assert.equal(login.status, 200);
      const other = cookieValues(login);
      assert.equal(await checkLoginStatus(account.cookies), 200);
      assert.equal(await checkLoginStatus(other), 200);

      const token = await resetToken(account.email);
      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, reset.text);

      assert.equal(await checkLoginStatus(account.cookies), 401, 'session from confirm ended');
      assert.equal(await checkLoginStatus(other), 401, 'session from login ended');
      const oldBasic = await action(server.url, 'check_login', { headers: { Authorization: basic(account.email, PASSWORD) } });
      assert.equal(oldBasic.status, 401, 'Basic with the old password fails');
      assert.equal(await checkLoginStatus(cookieValues(reset)), 200, 'the resetting client is logged in');
    });

    test('reset link works once', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-once'));
      const token = await resetToken(account.email);

      const first = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assert.equal(first.status, 200, first.text);

      const second = await action(server.url, 'reset_password', { body: { token, password: OTHER_PASSWORD } });
      assertValidation(second, ['token'], 'second use');
      assert.match(errorMessage(second), /already been used/);
      assert.equal(await loginStatus(account.email, NEW_PASSWORD), 200, 'the first reset stands');

      const page = await openResetPage(token);
      assert.equal(page.status, 400);
      assert.match(textOf(page.text), /already been used/);
    });

    test('expired reset link fails', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-expired'));
      const token = await resetToken(account.email);
      const changed = await sqlRows(
        server.dataDir,
        "UPDATE tokens SET expires_at = ? WHERE account_uuid = ? AND purpose = 'reset' RETURNING digest",
        [Date.now() - 60_000, account.uuid],
      );
      assert.equal(changed.length, 1, 'one token row expired');

      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assertValidation(reset, ['token'], 'expired token');
      assert.match(errorMessage(reset), /expired/);

      const page = await openResetPage(token);
      assert.equal(page.status, 400);
      assert.match(textOf(page.text), /expired/);
      assert.equal(await loginStatus(account.email, PASSWORD), 200, 'password unchanged');
    });

    test('newer reset invalidates older link', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-newer'));
      const older = await resetToken(account.email);
      const newer = await resetToken(account.email);
      assert.notEqual(older, newer);

      const reset = await action(server.url, 'reset_password', { body: { token: newer, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, reset.text);

      const stale = await action(server.url, 'reset_password', { body: { token: older, password: OTHER_PASSWORD } });
      assertValidation(stale, ['token'], 'older link after a newer reset');
      assert.match(errorMessage(stale), /password was changed after it was issued/);
      assert.equal(await loginStatus(account.email, NEW_PASSWORD), 200);
    });

    test('change_password invalidates reset link', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-changed'));
      const token = await resetToken(account.email);

      const changed = await action(server.url, 'change_password', {
        body: { old_password: PASSWORD, new_password: NEW_PASSWORD },
        headers: { Authorization: basic(account.email, PASSWORD) },
      });
      assert.equal(changed.status, 200, changed.text);

      const reset = await action(server.url, 'reset_password', { body: { token, password: OTHER_PASSWORD } });
      assertValidation(reset, ['token'], 'link issued before change_password');
      assert.equal(await loginStatus(account.email, NEW_PASSWORD), 200);
    });

    test('reset rejects bad input', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-input'));
      const token = await resetToken(account.email);
      const pending = await signUp(server.url, smtp, uniqueAddress('reset-confirm-token'));

      const cases: Array<{ label: string; body: unknown; points: Array<string | null>; message?: RegExp }> = [
        { label: 'missing token', body: { password: NEW_PASSWORD }, points: ['token'] },
        { label: 'missing password', body: { token }, points: ['password'] },
        { label: 'token of wrong type', body: { token: 7, password: NEW_PASSWORD }, points: ['token'] },
        { label: 'password of wrong type', body: { token, password: ['x'] }, points: ['password'] },
        { label: 'unknown field', body: { token, password: NEW_PASSWORD, email: account.email }, points: ['email'] },
        {
          label: 'malformed token',
          body: { token: 'abc', password: NEW_PASSWORD },
          points: ['token'],
          message: /not a valid password reset token/,
        },
        {
          label: 'unknown token',
          body: { token: randomBytes(32).toString('base64url'), password: NEW_PASSWORD },
          points: ['token'],
          message: /not a valid password reset token/,
        },
        {
          label: 'confirmation token',
          body: { token: pending.token, password: NEW_PASSWORD },
          points: ['token'],
          message: /not a valid password reset token/,
        },
        { label: 'short password', body: { token, password: 'short' }, points: ['password'], message: /at least 8 characters/ },
        { label: 'common password', body: { token, password: 'password123' }, points: ['password'], message: /too common/ },
        { label: 'email as password', body: { token, password: account.email }, points: ['password'], message: /email address/ },
        {
          label: 'oversized password',
          body: { token, password: 'x'.repeat(1025) },
          points: ['password'],
          message: /at most 1024 bytes/,
        },
      ];
      for (const { label, body, points, message } of cases) {
        const response = await action(server.url, 'reset_password', { body });
        assertValidation(response, points, label);
        if (message) assert.match(errorMessage(response), message, label);
      }

      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, `failed attempts leave the token usable: ${reset.text}`);
    });

    test('disabled account cannot reset', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-disabled'));
      const token = await resetToken(account.email);
      await sqlRows(server.dataDir, "UPDATE accounts SET state = 'disabled' WHERE uuid = ?", [account.uuid]);

      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assertValidation(reset, ['token'], 'token of a disabled account');
      assert.match(errorMessage(reset), /disabled or deleted/);
    });

    test('parallel resets have one winner', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('reset-race'));
      const token = await resetToken(account.email);
      const passwords = Array.from({ length: 10 }, (_, index) => `racing passphrase number ${index}`);

      const responses = await Promise.all(
        passwords.map((password) => action(server.url, 'reset_password', { body: { token, password } })),
      );

      const winners = responses.flatMap((response, index) => (response.status === 200 ? [index] : []));
      assert.equal(winners.length, 1, `exactly one 200, got ${responses.map((response) => response.status).join(', ')}`);
      for (const response of responses.filter((candidate) => candidate.status !== 200)) {
        assertValidation(response, ['token'], 'a losing request');
      }

      const winner = winners[0] ?? -1;
      for (const [index, password] of passwords.entries()) {
        assert.equal(await loginStatus(account.email, password), index === winner ? 200 : 401, `password ${index}`);
      }
      await waitForMail(account.email, NOTICE_SUBJECT, 1);
      await sleep(BACKGROUND_SETTLE_MS);
      assert.equal(mailsTo(account.email, NOTICE_SUBJECT).length, 1, 'one notice');
    });
  });

  describe('change_password', () => {
    test('session caller gets rotated session', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-session'));
      const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
      const otherClient = cookieValues(login);
      const caller = account.cookies;
      const csrf = caller.csrftoken ?? '';

      const changed = await action(server.url, 'change_password', {
        body: { old_password: PASSWORD, new_password: NEW_PASSWORD },
        cookies: caller,
        headers: { 'X-CSRFToken': csrf },
      });
      assert.equal(changed.status, 200, changed.text);
      assert.deepEqual(changed.body, {});

      const rotated = cookieValues(changed);
      assert.ok(rotated.sessionid, 'new sessionid cookie');
      assert.ok(rotated.csrftoken, 'new csrftoken cookie');
      assert.notEqual(rotated.sessionid, caller.sessionid);
      assert.notEqual(rotated.csrftoken, caller.csrftoken);
      assert.match(changed.cookies.sessionid?.attributes ?? '', /httponly/);

      assert.equal(await checkLoginStatus(rotated), 200, 'rotated session works');
      assert.equal(await checkLoginStatus(caller), 401, "caller's old session ended");
      assert.equal(await checkLoginStatus(otherClient), 401, "other client's session ended");

      // The rotated session passes CSRF only with its own new token.
      const staleCsrf = await action(server.url, 'logout', { cookies: rotated, headers: { 'X-CSRFToken': csrf } });
      assert.equal(staleCsrf.status, 403);
      const logout = await action(server.url, 'logout', { cookies: rotated, headers: { 'X-CSRFToken': rotated.csrftoken ?? '' } });
      assert.equal(logout.status, 200);

      assert.equal(await loginStatus(account.email, NEW_PASSWORD), 200);
      assert.equal(await loginStatus(account.email, PASSWORD), 401);
    });

    test('password-changed notice arrives after change', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-notice'));

      const changed = await action(server.url, 'change_password', {
        body: { old_password: PASSWORD, new_password: NEW_PASSWORD },
        cookies: account.cookies,
        headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '' },
      });
      assert.equal(changed.status, 200, changed.text);

      const notice = await waitForMail(account.email, NOTICE_SUBJECT, 1);
      assert.match(notice.text ?? '', /gave the old password/);
      assert.ok(notice.html, 'notice has an HTML part');
    });

    test('Basic caller gets no cookies', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-basic'));

      const changed = await action(server.url, 'change_password', {
        body: { old_password: PASSWORD, new_password: NEW_PASSWORD },
        headers: { Authorization: basic(account.email, PASSWORD) },
      });
      assert.equal(changed.status, 200, changed.text);
      assert.deepEqual(changed.body, {});
      assert.deepEqual(changed.headers.getSetCookie(), [], 'no Set-Cookie');

      assert.equal(await checkLoginStatus(account.cookies), 401, 'the account session ended');
      const withNew = await action(server.url, 'check_login', { headers: { Authorization: basic(account.email, NEW_PASSWORD) } });
      assert.equal(withNew.status, 200);
      const withOld = await action(server.url, 'check_login', { headers: { Authorization: basic(account.email, PASSWORD) } });
      assert.equal(withOld.status, 401);
    });

    test('one verification per attempt', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-verify'));
      const options = (oldPassword: string) => ({
        body: { old_password: oldPassword, new_password: NEW_PASSWORD },
        cookies: account.cookies,
        headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '' },
      });

      const beforeWrong = server.hasher.verifications;
      const wrong = await action(server.url, 'change_password', options('not the right password'));
      assertValidation(wrong, ['old_password'], 'wrong old password');
      assert.match(errorMessage(wrong), /old_password is wrong/);
      assert.equal(server.hasher.verifications - beforeWrong, 1, 'a wrong old password costs one verification');
      assert.equal(await checkLoginStatus(account.cookies), 200, 'a failed attempt keeps the session');

      const beforeOversized = server.hasher.verifications;
      const oversized = await action(server.url, 'change_password', options('x'.repeat(1025)));
      assertValidation(oversized, ['old_password'], 'oversized old password');
      assert.equal(server.hasher.verifications - beforeOversized, 0, 'an oversized old password is never hashed');

      const beforeRight = server.hasher.verifications;
      const right = await action(server.url, 'change_password', options(PASSWORD));
      assert.equal(right.status, 200, right.text);
      assert.equal(server.hasher.verifications - beforeRight, 1, 'a successful change costs one verification');
    });

    test('weak new password is rejected', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-weak'));
      const headers = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };

      for (const [label, newPassword] of [
        ['short', 'short'],
        ['common', 'password123'],
        ['email', account.email],
        ['oversized', 'x'.repeat(1025)],
      ] as const) {
        const response = await action(server.url, 'change_password', {
          body: { old_password: PASSWORD, new_password: newPassword },
          cookies: account.cookies,
          headers,
        });
        assertValidation(response, ['new_password'], label);
      }

      assert.equal(await checkLoginStatus(account.cookies), 200, 'session intact');
      assert.equal(await loginStatus(account.email, PASSWORD), 200, 'password unchanged');
      assert.equal(mailsTo(account.email, NOTICE_SUBJECT).length, 0, 'no notice');
    });

    test('missing CSRF token is 403', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-csrf'));
      const body = { old_password: PASSWORD, new_password: NEW_PASSWORD };

      const missing = await action(server.url, 'change_password', { body, cookies: account.cookies });
      assert.equal(missing.status, 403, missing.text);
      assert.equal(errorList(missing)[0]?.error_type, 'permission');

      const wrongHeaders = { 'X-CSRFToken': 'x'.repeat(43) };
      const wrong = await action(server.url, 'change_password', { body, cookies: account.cookies, headers: wrongHeaders });
      assert.equal(wrong.status, 403, wrong.text);

      assert.equal(await loginStatus(account.email, PASSWORD), 200, 'password unchanged');
      assert.equal(await checkLoginStatus(account.cookies), 200, 'session intact');
    });

    test('unauthenticated change is 401', async () => {
      const body = { old_password: PASSWORD, new_password: NEW_PASSWORD };
      const response = await action(server.url, 'change_password', { body });
      assert.equal(response.status, 401, response.text);
      assert.equal(errorList(response)[0]?.error_type, 'permission');
      assert.ok(response.headers.get('www-authenticate'));
    });

    test('change rejects malformed bodies', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('change-body'));
      const headers = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };
      const cases: Array<{ label: string; body: unknown; points: Array<string | null> }> = [
        { label: 'empty body', body: {}, points: ['old_password', 'new_password'] },
        { label: 'missing new_password', body: { old_password: PASSWORD }, points: ['new_password'] },
        { label: 'missing old_password', body: { new_password: NEW_PASSWORD }, points: ['old_password'] },
        { label: 'old_password of wrong type', body: { old_password: 1, new_password: NEW_PASSWORD }, points: ['old_password'] },
        { label: 'new_password null', body: { old_password: PASSWORD, new_password: null }, points: ['new_password'] },
        {
          label: 'unknown field',
          body: { old_password: PASSWORD, new_password: NEW_PASSWORD, password: 'x' },
          points: ['password'],
        },
      ];
      for (const { label, body, points } of cases) {
        assertValidation(await action(server.url, 'change_password', { body, cookies: account.cookies, headers }), points, label);
      }
      assert.equal(await loginStatus(account.email, PASSWORD), 200, 'password unchanged');
    });
  });

  describe('reset page', () => {
    test('opening twice keeps token usable', async () => {
      const account = await activeAccount(server.url, smtp, uniqueAddress('page-twice'));
      await resetToken(account.email);
      const link = resetLinkIn(await waitForMail(account.email, RESET_SUBJECT, 1));
      const token = tokenOf(link);

      for (const attempt of [1, 2]) {
        const page = await request(onTestServer(link), { method: 'GET', headers: { Accept: 'text/html' } });
        assert.equal(page.status, 200, `opening ${attempt}: ${page.text}`);
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
        assert.equal(page.headers.get('referrer-policy'), 'no-referrer');

        const [form] = startTags(page.text, 'form');
        assert.equal(form?.['data-action'], '/api/2.0/accounts/action/?do=reset_password', `opening ${attempt}`);
        const inputs = startTags(page.text, 'input');
        assert.equal(inputs.find((input) => input.name === 'token')?.value, token);
        assert.equal(inputs.find((input) => input.name === 'password')?.autocomplete, 'new-password');
        assert.ok(inputs.some((input) => input.name === 'repeat'));
      }

      const reset = await action(server.url, 'reset_password', { body: { token, password: NEW_PASSWORD } });
      assert.equal(reset.status, 200, reset.text);
      assert.deepEqual(reset.body, { uuid: account.uuid });
    });

    test('invalid link shows problem page', async () => {
      const cases = [
        { label: 'unknown token', query: `?token=${randomBytes(32).toString('base64url')}` },
        { label: 'malformed token', query: '?token=not-a-token' },
        { label: 'no token', query: '' },
      ];
      for (const { label, query } of cases) {
        const page = await request(`${server.url}/accounts/reset/${query}`, { method: 'GET', headers: { Accept: 'text/html' } });
        assert.equal(page.status, 400, label);
        assert.match(textOf(page.text), /not a valid password reset token/i, label);
        assert.equal(startTags(page.text, 'form').length, 0, `${label}: no form`);
        assert.equal(startTags(page.text, 'input').length, 0, `${label}: no input`);
      }
    });

    describe('in headless Chromium', { skip: chromiumSkip }, () => {
      let browser: Browser;

      before(async () => {
        browser = await launchChromium();
      });

      after(async () => {
        await browser?.close();
      });

      test('reset page submits new password', async () => {
        const account = await activeAccount(server.url, smtp, uniqueAddress('browser-reset'));
        await resetToken(account.email);
        const link = resetLinkIn(await waitForMail(account.email, RESET_SUBJECT, 1));

        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          page.setDefaultTimeout(10_000);
          const consoleErrors: string[] = [];
          page.on('pageerror', (error) => consoleErrors.push(error.message));

          const opened = await page.goto(onTestServer(link));
          assert.equal(opened?.status(), 200);

          await page.getByLabel('New password').fill(NEW_PASSWORD);
          await page.getByLabel('Repeat the password').fill(NEW_PASSWORD);
          const answered = page.waitForResponse((response) => response.url().includes('do=reset_password'));
          await page.getByRole('button', { name: 'Set new password' }).click();
          assert.equal((await answered).status(), 200);
          await page.getByRole('status').filter({ hasText: /new password is set/i }).waitFor();

          const cookies = await context.cookies(server.url);
          assert.ok(
            cookies.some((cookie) => cookie.name === 'sessionid' && cookie.value !== ''),
            'browser is logged in',
          );
          assert.deepEqual(consoleErrors, [], 'no script error');
        } finally {
          await context.close();
        }

        const login = await action(server.url, 'login', { body: { username: account.email, password: NEW_PASSWORD } });
        assert.equal(login.status, 200, login.text);
        assert.deepEqual(login.body, { uuid: account.uuid });
        assert.equal(await loginStatus(account.email, PASSWORD), 401, 'old password no longer works');
      });
    });
  });
});

describe('reset email throttle', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ SMTP_URL: smtpUrl, PUBLIC_URL, MAIL_THROTTLE_SECONDS: '60' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  async function resetEmailsQueued(email: string): Promise<number> {
    return countRows(server.dataDir, "SELECT count(*) FROM outbox WHERE recipient = ? AND subject LIKE 'Reset your%'", email);
  }

  test('reset emails are throttled per address', async () => {
    // The confirmation email of activeAccount took the address's send slot a moment ago.
    const account = await activeAccount(server.url, smtp, uniqueAddress('throttle'));

    const throttled = await action(server.url, 'request_password_reset', { body: { email: account.email } });
    assert.equal(throttled.status, 200);
    assert.deepEqual(throttled.body, {});
    await sleep(BACKGROUND_SETTLE_MS);
    assert.equal(await resetEmailsQueued(account.email), 0, 'no reset email soon after the confirmation email');

    const slotTakenAt = Date.now() - 61_000;
    await sqlRows(server.dataDir, 'UPDATE mail_throttle SET last_sent_at = ? WHERE email_key = ?', [slotTakenAt, account.email.toLowerCase()]);
    const allowed = await action(server.url, 'request_password_reset', { body: { email: account.email } });
    assert.equal(allowed.status, 200);
    await smtp.waitFor(account.email, 2);
    assert.equal(await resetEmailsQueued(account.email), 1, 'one reset email once the interval has passed');

    const again = await action(server.url, 'request_password_reset', { body: { email: account.email } });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, {});
    await sleep(BACKGROUND_SETTLE_MS);
    assert.equal(await resetEmailsQueued(account.email), 1, 'no second reset email within the interval');
    assert.equal(
      await countRows(server.dataDir, "SELECT count(*) FROM tokens WHERE account_uuid = ? AND purpose = 'reset'", account.uuid),
      1,
      'no token for a throttled request',
    );
  });

  test('notice is not throttled', async () => {
    const account = await activeAccount(server.url, smtp, uniqueAddress('throttle-notice'));

    // The confirmation email took the send slot; the security notice goes out anyway.
    const changed = await action(server.url, 'change_password', {
      body: { old_password: PASSWORD, new_password: NEW_PASSWORD },
      headers: { Authorization: basic(account.email, PASSWORD) },
    });
    assert.equal(changed.status, 200, changed.text);

    const mails = await smtp.waitFor(account.email, 2);
    assert.match(mails[1]?.subject ?? '', NOTICE_SUBJECT);
  });
});
