import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Browser as Chromium } from 'playwright-core';

import { activeAccount, PASSWORD } from './helpers/accounts.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';
import { STEP_MS, totp } from './helpers/totp.js';

const PROFILE_PATH = '/api/2.0/profile/';
const RECOVERY_CODE = /^[a-hj-km-np-z2-9]{4}-[a-hj-km-np-z2-9]{4}-[a-hj-km-np-z2-9]{4}$/;
// Throttling starts after this many failed checks per account; the tests stay below it unless they test it.
const FAILURES_PER_ACCOUNT = 6;

interface Browser {
  cookies: Record<string, string>;
  headers: Record<string, string>;
}

function basic(email: string, password = PASSWORD): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}` };
}

function assert401(response: ApiResponse, message: RegExp): void {
  assert.equal(response.status, 401, response.text);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  assert.match(errorList(response)[0]?.error_message ?? '', message);
}

describe('two-factor authentication', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    // No mail throttle, so that a reset link can follow the sign-up mail at once.
    server = await startTestServer({ SMTP_URL: await smtp.start(), THROTTLE_FAILURES_PER_ACCOUNT: String(FAILURES_PER_ACCOUNT), MAIL_THROTTLE_SECONDS: '0' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  function browserOf(response: ApiResponse): Browser {
    const csrf = response.cookies.csrftoken?.value ?? '';
    return { cookies: { sessionid: response.cookies.sessionid?.value ?? '', csrftoken: csrf }, headers: { 'X-CSRFToken': csrf } };
  }

  async function login(email: string): Promise<Browser> {
    const response = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(response.status, 200, response.text);
    return browserOf(response);
  }

  /** Posts verify_otp; on success the browser takes the new session cookies, as a browser would. */
  async function verify(browser: Browser, code?: string): Promise<ApiResponse> {
    const response = await action(server.url, 'verify_otp', { cookies: browser.cookies, headers: { ...browser.headers, ...(code ? { OTP: code } : {}) } });
    if (response.status === 200 && response.cookies.sessionid) Object.assign(browser, browserOf(response));
    return response;
  }

  function profile(browser: Browser): Promise<ApiResponse> {
    return request(`${server.url}${PROFILE_PATH}`, { method: 'GET', cookies: browser.cookies });
  }

  /** Turns two-factor on for a new account with a code of the step at `codeAt`; returns the secret and recovery codes. */
  async function twoFactorAccount(codeAt = Date.now()) {
    const account = await activeAccount(server.url, smtp);
    const browser: Browser = { cookies: account.cookies, headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '' } };
    const setup = await action(server.url, 'otp_setup', { cookies: browser.cookies, headers: browser.headers });
    assert.equal(setup.status, 200, setup.text);
    const { secret } = setup.body as { secret: string };

    const enabled = await action(server.url, 'otp_enable', { body: { password: PASSWORD }, cookies: browser.cookies, headers: { ...browser.headers, OTP: totp(secret, codeAt) } });
    assert.equal(enabled.status, 200, enabled.text);
    return { ...account, browser, secret, recoveryCodes: (enabled.body as { recovery_codes: string[] }).recovery_codes };
  }

  test('turning two-factor on: secret, QR code, recovery codes, other sessions end, a notice', async () => {
    const account = await activeAccount(server.url, smtp);
    const browser: Browser = { cookies: account.cookies, headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '' } };
    const other = await login(account.email);

    const withoutCsrf = await action(server.url, 'otp_setup', { cookies: browser.cookies });
    assert.equal(withoutCsrf.status, 403, withoutCsrf.text);

    const setup = await action(server.url, 'otp_setup', { cookies: browser.cookies, headers: browser.headers });
    assert.equal(setup.status, 200, setup.text);
    const body = setup.body as { secret: string; uri: string; qr_svg: string };
    assert.deepEqual(Object.keys(body).sort(), ['qr_svg', 'secret', 'uri']);
    assert.match(body.secret, /^[A-Z2-7]{32}$/);
    const uri = new URL(body.uri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(uri.searchParams.get('secret'), body.secret);
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
    assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
    assert.match(decodeURIComponent(uri.pathname), new RegExp(account.email.replace(/\./g, '\\.')));
    assert.match(body.qr_svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.doesNotMatch(body.qr_svg, /<script|href=/i);

    const missing = await action(server.url, 'otp_enable', { body: { password: PASSWORD }, cookies: browser.cookies, headers: browser.headers });
    assert.equal(missing.status, 400, missing.text);
    assert.equal(errorList(missing)[0]?.error_point, 'OTP');
    const noPassword = await action(server.url, 'otp_enable', { cookies: browser.cookies, headers: { ...browser.headers, OTP: totp(body.secret) } });
    assert.equal(noPassword.status, 400, noPassword.text);
    assert.equal(errorList(noPassword)[0]?.error_point, 'password');
    const wrongPassword = await action(server.url, 'otp_enable', { body: { password: 'not the password' }, cookies: browser.cookies, headers: { ...browser.headers, OTP: totp(body.secret) } });
    assert.equal(wrongPassword.status, 400, wrongPassword.text);
    assert.equal(errorList(wrongPassword)[0]?.error_point, 'password');
    const wrong = await action(server.url, 'otp_enable', { body: { password: PASSWORD }, cookies: browser.cookies, headers: { ...browser.headers, OTP: totp(body.secret, Date.now() + 5 * STEP_MS) } });
    assert.equal(wrong.status, 400, wrong.text);
    assert.equal(errorList(wrong)[0]?.error_point, 'OTP');
    assert.equal((await profile(browser)).status, 200, 'a refused code changes nothing');
    assert.equal(((await profile(browser)).body as { otp_enabled: boolean }).otp_enabled, false);

    const enabled = await action(server.url, 'otp_enable', { body: { password: PASSWORD }, cookies: browser.cookies, headers: { ...browser.headers, OTP: totp(body.secret) } });
    assert.equal(enabled.status, 200, enabled.text);
    const codes = (enabled.body as { recovery_codes: string[] }).recovery_codes;
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) assert.match(code, RECOVERY_CODE);

    // Only digests are stored: no code and no dash-free form of one appears in the table.
    const stored = await sqlRows<{ digest: string }>(server.dataDir, 'select digest from otp_recovery_codes where account_uuid = ?', [account.uuid]);
    assert.equal(stored.length, 10);
    for (const row of stored) {
      assert.match(row.digest, /^[0-9a-f]{64}$/);
      assert.ok(!codes.some((code) => row.digest.includes(code.replace(/-/g, ''))));
    }

    // The session that turned it on stays; every other one ended.
    assert.equal((await profile(browser)).status, 200);
    assert.equal(((await profile(browser)).body as { otp_enabled: boolean }).otp_enabled, true);
    assert.equal((await profile(other)).status, 401);

    const notice = (await smtp.waitFor(account.email, 2)).find((mail) => /Two-factor authentication is on/.test(mail.subject ?? ''));
    assert.ok(notice, 'the owner is told that two-factor authentication was turned on');

    const again = await action(server.url, 'otp_setup', { cookies: browser.cookies, headers: browser.headers });
    assert.equal(again.status, 400, again.text);
    assert.match(errorList(again)[0]?.error_message ?? '', /already on/);
  });

  test('login then verify_otp with a code computed from the secret, then the profile', async () => {
    const account = await twoFactorAccount();
    const browser = await login(account.email);

    // Limited until verify_otp: check_login and other authenticated calls get 401.
    assert401(await action(server.url, 'check_login', { cookies: browser.cookies }), /authentication required|two-factor/);
    assert401(await profile(browser), /two-factor verification is pending/);
    assert401(await action(server.url, 'check_login_with_return_uuid', { cookies: browser.cookies }), /two-factor verification is pending/);

    const noCsrf = await action(server.url, 'verify_otp', { cookies: browser.cookies, headers: { OTP: totp(account.secret, Date.now() + STEP_MS) } });
    assert.equal(noCsrf.status, 403, noCsrf.text);
    assert401(await verify(browser), /OTP header/);
    assert401(await verify(browser, '000000' === totp(account.secret) ? '111111' : '000000'), /wrong or already used/);

    const limitedCookies = { ...browser.cookies };
    const verified = await verify(browser, totp(account.secret, Date.now() + STEP_MS));
    assert.equal(verified.status, 200, verified.text);
    assert.deepEqual(verified.body, {});
    // The verified session has a new id and CSRF token; the limited one is gone.
    assert.notEqual(browser.cookies.sessionid, limitedCookies.sessionid);
    assert.notEqual(browser.cookies.csrftoken, limitedCookies.csrftoken);
    assert.equal((await action(server.url, 'check_login', { cookies: limitedCookies })).status, 401);

    assert.equal((await action(server.url, 'check_login', { cookies: browser.cookies })).status, 200);
    const read = await profile(browser);
    assert.equal(read.status, 200, read.text);
    assert.equal((read.body as { uuid: string }).uuid, account.uuid);
    // A second verify_otp on an unlocked session has nothing left to check.
    assert.equal((await verify(browser)).status, 200);

    // Logout works on a limited session.
    const limited = await login(account.email);
    const loggedOut = await action(server.url, 'logout', { cookies: limited.cookies, headers: limited.headers });
    assert.equal(loggedOut.status, 200, loggedOut.text);
    assert401(await verify(limited, totp(account.secret, Date.now() + 2 * STEP_MS)), /log in first/);
  });

  test('code window and replay', async () => {
    // Turned on with the code of the previous step, which counts as late and is accepted.
    const account = await twoFactorAccount(Date.now() - STEP_MS);
    const now = Date.now();

    // The code that turned it on is used up.
    assert401(await verify(await login(account.email), totp(account.secret, now - STEP_MS)), /wrong or already used/);
    // Three steps ahead is outside the window.
    assert401(await verify(await login(account.email), totp(account.secret, now + 3 * STEP_MS)), /wrong or already used/);

    const current = await login(account.email);
    assert.equal((await verify(current, totp(account.secret, now))).status, 200);
    // Replayed: the same code again, on another session.
    assert401(await verify(await login(account.email), totp(account.secret, now)), /wrong or already used/);

    const early = await login(account.email);
    assert.equal((await verify(early, totp(account.secret, now + STEP_MS))).status, 200);
    // Once a later step was used, a code of an earlier one is refused too.
    assert401(await verify(await login(account.email), totp(account.secret, now)), /wrong or already used/);

    // Late: with the last used step set back, the previous step's code is accepted once.
    await sqlRows(server.dataDir, 'update accounts set otp_last_step = ? where uuid = ?', [Math.floor(now / STEP_MS) - 5, account.uuid]);
    const late = await login(account.email);
    assert.equal((await verify(late, totp(account.secret, now - STEP_MS))).status, 200);
    assert401(await verify(await login(account.email), totp(account.secret, now - STEP_MS)), /wrong or already used/);
  });

  test('a recovery code works once, with or without its dashes', async () => {
    const account = await twoFactorAccount();
    const [first = '', second = ''] = account.recoveryCodes;

    const browser = await login(account.email);
    assert.equal((await verify(browser, first.toUpperCase())).status, 200);
    assert.equal((await profile(browser)).status, 200);
    assert401(await verify(await login(account.email), first), /wrong or already used/);

    assert.equal((await verify(await login(account.email), second.replace(/-/g, ''))).status, 200);
    assert401(await verify(await login(account.email), second), /wrong or already used/);

    // Another account's code is refused.
    const stranger = await twoFactorAccount();
    assert401(await verify(await login(account.email), stranger.recoveryCodes[0] ?? ''), /wrong or already used/);
  });

  test('Basic on a two-factor account needs a code in the OTP header', async () => {
    const account = await twoFactorAccount();
    const url = `${server.url}${PROFILE_PATH}`;

    const without = await request(url, { method: 'GET', headers: basic(account.email) });
    assert401(without, /OTP header.*API token \(Authorization: Bearer\)/);

    const wrong = await request(url, { method: 'GET', headers: { ...basic(account.email), OTP: '12345x' } });
    assert401(wrong, /wrong or already used/);

    // A wrong password is the usual 401, and uses up no code.
    const code = totp(account.secret, Date.now() + STEP_MS);
    const wrongPassword = await request(url, { method: 'GET', headers: { ...basic(account.email, 'not the password'), OTP: code } });
    assert401(wrongPassword, /authentication required/);

    const withCode = await request(url, { method: 'GET', headers: { ...basic(account.email), OTP: code } });
    assert.equal(withCode.status, 200, withCode.text);
    assert.equal((withCode.body as { uuid: string }).uuid, account.uuid);

    const replayed = await request(url, { method: 'GET', headers: { ...basic(account.email), OTP: code } });
    assert401(replayed, /wrong or already used/);

    const recovery = await request(url, { method: 'GET', headers: { ...basic(account.email), OTP: account.recoveryCodes[3] ?? '' } });
    assert.equal(recovery.status, 200, recovery.text);

    // The body credentials of check_login_with_return_uuid count as a password login too.
    const bodyCredentials = await action(server.url, 'check_login_with_return_uuid', { body: { username: account.email, password: PASSWORD } });
    assert401(bodyCredentials, /OTP header/);
  });

  test('page script 401 challenge', async () => {
    const fromScript = await request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers: { 'X-Requested-With': 'XMLHttpRequest' } });
    assert.equal(fromScript.status, 401);
    assert.equal(fromScript.headers.get('www-authenticate'), 'Session realm="sigma-accounts"');
    const fromProgram = await request(`${server.url}${PROFILE_PATH}`, { method: 'GET' });
    assert.match(fromProgram.headers.get('www-authenticate') ?? '', /^Basic realm="sigma-accounts"/);
  });

  test('right password never clears code failures', async () => {
    const account = await twoFactorAccount();
    const url = `${server.url}${PROFILE_PATH}`;
    const wrongCode = totp(account.secret, Date.now() + 10 * STEP_MS);

    // Each request has the right password, which clears password failures, and a wrong code.
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= FAILURES_PER_ACCOUNT + 1; attempt += 1) {
      statuses.push((await request(url, { method: 'GET', headers: { ...basic(account.email), OTP: wrongCode } })).status);
    }
    assert.deepEqual(statuses.slice(0, FAILURES_PER_ACCOUNT), Array(FAILURES_PER_ACCOUNT).fill(401));
    assert.equal(statuses[FAILURES_PER_ACCOUNT], 429, statuses.join(','));
  });

  test('password reset on two-factor account needs a code', async () => {
    const account = await twoFactorAccount();
    const requested = await action(server.url, 'request_password_reset', { body: { email: account.email } });
    assert.equal(requested.status, 200, requested.text);
    const mails = await smtp.waitFor(account.email, 3);
    const link = /token=([A-Za-z0-9_-]+)/.exec(mails.at(-1)?.text ?? '')?.[1] ?? '';

    const reset = await action(server.url, 'reset_password', { body: { token: link, password: 'a new passphrase for the reset' } });
    assert.equal(reset.status, 200, reset.text);
    const browser = browserOf(reset);
    assert401(await profile(browser), /two-factor verification is pending/);
    assert.equal((await verify(browser, totp(account.secret, Date.now() + STEP_MS))).status, 200);
    assert.equal((await profile(browser)).status, 200);
  });

  test('otp_disable over Basic takes one code', async () => {
    const account = await twoFactorAccount();
    const off = await action(server.url, 'otp_disable', {
      body: { password: PASSWORD },
      headers: { ...basic(account.email), OTP: account.recoveryCodes[5] ?? '' },
    });
    assert.equal(off.status, 200, off.text);
    assert.equal((await request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers: basic(account.email) })).status, 200);
  });

  test('failed codes count toward the account throttle', async () => {
    const account = await twoFactorAccount();
    const browser = await login(account.email);
    const wrongCode = totp(account.secret, Date.now() + 10 * STEP_MS);

    for (let attempt = 1; attempt <= FAILURES_PER_ACCOUNT; attempt += 1) {
      assert.equal((await verify(browser, wrongCode)).status, 401, `attempt ${attempt}`);
    }
    const throttled = await verify(browser, totp(account.secret, Date.now() + STEP_MS));
    assert.equal(throttled.status, 429, throttled.text);
    assert.ok(Number(throttled.headers.get('retry-after')) >= 1);
  });

  test('turning two-factor off needs the password and a code', async () => {
    const account = await twoFactorAccount();
    const other = await login(account.email);
    assert.equal((await verify(other, totp(account.secret, Date.now() + STEP_MS))).status, 200);
    const disable = (password: string, code?: string) =>
      action(server.url, 'otp_disable', { body: { password }, cookies: account.browser.cookies, headers: { ...account.browser.headers, ...(code ? { OTP: code } : {}) } });

    // A recovery code works here too, and a refused password uses none up.
    const recoveryCode = account.recoveryCodes[0] ?? '';
    const wrongPassword = await disable('not the password', recoveryCode);
    assert.equal(wrongPassword.status, 400, wrongPassword.text);
    assert.equal(errorList(wrongPassword)[0]?.error_point, 'password');

    const noCode = await disable(PASSWORD);
    assert.equal(noCode.status, 400);
    assert.equal(errorList(noCode)[0]?.error_point, 'OTP');
    const wrongCode = await disable(PASSWORD, totp(account.secret, Date.now() + 9 * STEP_MS));
    assert.equal(wrongCode.status, 400);
    assert.equal(errorList(wrongCode)[0]?.error_point, 'OTP');

    const off = await disable(PASSWORD, recoveryCode);
    assert.equal(off.status, 200, off.text);
    assert.equal(((await profile(account.browser)).body as { otp_enabled: boolean }).otp_enabled, false);
    assert.equal((await profile(other)).status, 401, 'other sessions end');

    const notice = (await smtp.waitFor(account.email, 3)).find((mail) => /Two-factor authentication is off/.test(mail.subject ?? ''));
    assert.ok(notice, 'the owner is told that two-factor authentication was turned off');
    assert.equal(await sqlRows(server.dataDir, 'select digest from otp_recovery_codes where account_uuid = ?', [account.uuid]).then((rows) => rows.length), 0);

    // Logins are full sessions again, and Basic needs no code.
    assert.equal((await profile(await login(account.email))).status, 200);
    assert.equal((await request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers: basic(account.email) })).status, 200);
  });

  describe('the two-factor page in headless Chromium', { skip: chromiumSkip }, () => {
    let chromium: Chromium;

    before(async () => {
      chromium = await launchChromium();
    });

    after(async () => {
      await chromium?.close();
    });

    test('page turns two-factor on', async () => {
      const account = await activeAccount(server.url, smtp);
      const context = await chromium.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
      });

      try {
        const opened = await page.goto(`${server.url}/accounts/two-factor/`);
        assert.equal(opened?.status(), 200);
        assert.match(opened?.headers()['content-security-policy'] ?? '', /script-src 'self'/);

        // Not signed in: the page shows a login form first.
        await page.getByLabel('Email address').fill(account.email);
        await page.locator('#login-form').getByLabel('Password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Log in' }).click();

        await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
        const qr = page.locator('#qr-code svg');
        await qr.waitFor();
        const box = await qr.boundingBox();
        assert.ok(box, 'the QR code is drawn');
        assert.ok(box.width > 100, `QR code width ${box.width}`);
        assert.ok(box.height > 100, `QR code height ${box.height}`);
        const secret = (await page.locator('#secret').textContent()) ?? '';
        assert.match(secret, /^[A-Z2-7]{32}$/);

        await page.getByLabel(/six-digit code/).fill('000000' === totp(secret) ? '111111' : '000000');
        await page.getByLabel(/Your password/).fill(PASSWORD);
        await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
        await page.getByRole('status').filter({ hasText: /not a current code/ }).waitFor();

        await page.getByLabel(/six-digit code/).fill(totp(secret));
        await page.getByLabel(/Your password/).fill(PASSWORD);
        await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
        await page.getByRole('status').filter({ hasText: 'Two-factor authentication is on.' }).waitFor();
        const codes = await page.locator('#recovery-codes li').allTextContents();
        assert.equal(codes.length, 10);
        for (const code of codes) assert.match(code, RECOVERY_CODE);

        const state = await request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers: { ...basic(account.email), OTP: codes[0] ?? '' } });
        assert.equal((state.body as { otp_enabled: boolean }).otp_enabled, true);

        // A new browser logs in and must type a code before the form to turn it off appears.
        const fresh = await chromium.newContext();
        const second = await fresh.newPage();
        second.setDefaultTimeout(10_000);
        await second.goto(`${server.url}/accounts/two-factor/`);
        await second.getByLabel('Email address').fill(account.email);
        await second.locator('#login-form').getByLabel('Password').fill(PASSWORD);
        await second.getByRole('button', { name: 'Log in' }).click();
        await second.getByLabel('Code', { exact: true }).fill(totp(secret, Date.now() + STEP_MS));
        await second.getByRole('button', { name: 'Continue' }).click();
        await second.getByRole('button', { name: 'Turn off two-factor authentication' }).waitFor();
        await fresh.close();

        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  });
});
