import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import type { ParsedMail } from 'mailparser';
import type { Browser } from 'playwright-core';

import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, errorPoints, request } from './helpers/client.js';
import { startTags, textOf } from './helpers/html.js';
import { BULK_SIGN_UPS, startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { countRows, sqlRows } from './helpers/store.js';

const PUBLIC_URL = 'http://accounts.test:8080';
const TOKEN_TTL_SECONDS = 7200;


type Account = Awaited<ReturnType<typeof activeAccount>>;

/** Returns the email-change link in a message's text part. */
function emailChangeLinkIn(mail: ParsedMail): string {
  const match = /https?:\/\/\S+\/accounts\/email\/\?token=[A-Za-z0-9_%-]+/.exec(mail.text ?? '');
  if (!match) throw new Error(`no email-change link in: ${mail.text ?? '(no text part)'}`);
  return match[0];
}

function basic(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
}

function escapedHtml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

describe('email change', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({
      ...BULK_SIGN_UPS,
      SMTP_URL: smtpUrl,
      PUBLIC_URL,
      // Most tests mail one address several times in a row; one test below runs with the throttle on.
      MAIL_THROTTLE_SECONDS: '0',
      CONFIRM_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
      DIGEST_AUTH: 'on',
    });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  /** Sends change_email as the account's logged-in browser would, with its session cookies and CSRF token. */
  function changeEmail(account: Account, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    return action(server.url, 'change_email', {
      body,
      cookies: account.cookies,
      headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '', ...headers },
    });
  }

  /** Asks to move `account` to `newEmail` and returns the token from the link mailed to the new address. */
  async function requestToken(account: Account, newEmail: string): Promise<string> {
    const before = smtp.to(newEmail).length;
    const response = await changeEmail(account, { email: newEmail, password: account.password });
    assert.equal(response.status, 200, response.text);

    const mails = await smtp.waitFor(newEmail, before + 1);
    return tokenOf(emailChangeLinkIn(mails[mails.length - 1]!));
  }

  function login(email: string, password = PASSWORD): Promise<ApiResponse> {
    return action(server.url, 'login', { body: { username: email, password } });
  }

  function openPage(query: string): Promise<ApiResponse> {
    return request(`${server.url}/accounts/email/${query}`, { method: 'GET', headers: { Accept: 'text/html' } });
  }

  function emailTokenRows(uuid: string): Promise<Array<{ digest: string; new_email: string; created_at: number; expires_at: number; used_at: number | null }>> {
    return sqlRows(server.dataDir, "SELECT digest, new_email, created_at, expires_at, used_at FROM tokens WHERE account_uuid = ? AND purpose = 'email'", [uuid]);
  }

  describe('change_email', () => {
    test('mails link to new address', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('new');

      const response = await changeEmail(account, { email: newEmail, password: PASSWORD });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, {});

      const [mail] = await smtp.waitFor(newEmail);
      assert.ok(mail);
      assert.ok(mail.html, 'mail has an HTML part');
      const link = emailChangeLinkIn(mail);
      assert.ok(link.startsWith(`${PUBLIC_URL}/accounts/email/?token=`), link);
      assert.ok((mail.html || '').includes(escapedHtml(link)), 'HTML part carries the same link');

      const token = tokenOf(link);
      const rows = await emailTokenRows(account.uuid);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.new_email, newEmail);
      assert.notEqual(rows[0]?.digest, token, 'only a digest of the token is stored');
      assert.match(rows[0]?.digest ?? '', /^[0-9a-f]{64}$/);
      assert.equal((rows[0]?.expires_at ?? 0) - (rows[0]?.created_at ?? 0), TOKEN_TTL_SECONDS * 1000);
      assert.equal(rows[0]?.used_at, null);
    });

    test('mails notice to old address', async () => {
      const account = await activeAccount(server.url, smtp);
      // An apostrophe is valid in a local part and must come out escaped in HTML.
      const newEmail = `o'${uniqueAddress('notice')}`;

      const response = await changeEmail(account, { email: newEmail, password: PASSWORD });
      assert.equal(response.status, 200, response.text);

      const mails = await smtp.waitFor(account.email, 2);
      const notice = mails[1];
      assert.ok(notice);
      assert.match(notice.subject ?? '', /change requested/i);
      assert.ok((notice.text ?? '').includes(newEmail), 'text names the new address');
      assert.doesNotMatch(notice.text ?? '', /token=/, 'no link that could make the change');
      assert.ok((notice.html || '').includes(escapedHtml(newEmail)), 'HTML names the new address, escaped');
      assert.ok(!(notice.html || '').includes(newEmail), 'HTML has no unescaped apostrophe');
    });

    test('address switches only when link is used', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('not-yet');

      await requestToken(account, newEmail);

      assert.equal((await login(account.email)).status, 200, 'old address still logs in');
      assert.equal((await login(newEmail)).status, 401, 'new address does not log in yet');
      const [row] = await sqlRows<{ email: string }>(server.dataDir, 'SELECT email FROM accounts WHERE uuid = ?', [account.uuid]);
      assert.equal(row?.email, account.email);
    });

    test('taken address answers the same', async () => {
      const owner = await activeAccount(server.url, smtp);
      const movingToFree = await activeAccount(server.url, smtp);
      const movingToTaken = await activeAccount(server.url, smtp);
      const freeAddress = uniqueAddress('free');

      const toFree = await changeEmail(movingToFree, { email: freeAddress, password: PASSWORD });
      const toTaken = await changeEmail(movingToTaken, { email: owner.email, password: PASSWORD });

      assert.equal(toFree.status, 200, toFree.text);
      assert.equal(toTaken.status, 200, toTaken.text);
      assert.equal(toTaken.text, toFree.text);
      assert.equal(toTaken.headers.get('content-type'), toFree.headers.get('content-type'));
      assert.deepEqual(Object.keys(toTaken.cookies), Object.keys(toFree.cookies));

      const ownerMails = await smtp.waitFor(owner.email, 2);
      const notice = ownerMails[1];
      assert.ok(notice);
      assert.match(notice.text ?? '', /already\s+registered/);
      assert.doesNotMatch(notice.text ?? '', /token=/, 'the owner gets no link');
      assert.equal((await emailTokenRows(movingToTaken.uuid)).length, 0, 'no token for a taken address');

      // Both old addresses get the same notice, so neither inbox reveals which case it was.
      const freeNotice = (await smtp.waitFor(movingToFree.email, 2))[1];
      const takenNotice = (await smtp.waitFor(movingToTaken.email, 2))[1];
      assert.equal(takenNotice?.subject, freeNotice?.subject);
      assert.equal(takenNotice?.text?.replace(owner.email, 'NEW'), freeNotice?.text?.replace(freeAddress, 'NEW'));

      assert.equal((await login(owner.email)).status, 200, 'the owner is unaffected');
    });

    test('Basic caller needs no CSRF token', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('basic');

      const response = await action(server.url, 'change_email', {
        body: { email: newEmail, password: PASSWORD },
        headers: { Authorization: basic(account.email, PASSWORD) },
      });
      assert.equal(response.status, 200, response.text);
      await smtp.waitFor(newEmail);
    });

    test('wrong password is 400', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('wrong-password');

      const verificationsBefore = server.hasher.verifications;
      const response = await changeEmail(account, { email: newEmail, password: `${PASSWORD}!` });
      assert.equal(server.hasher.verifications - verificationsBefore, 1, 'exactly one password verification');

      assert.equal(response.status, 400);
      assert.deepEqual(errorPoints(response), ['password']);
      assert.equal(errorList(response)[0]?.error_type, 'validation');
      assert.equal((await emailTokenRows(account.uuid)).length, 0);
      assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE recipient = ?', newEmail), 0);
    });

    test('overlong password is 400 unhashed', async () => {
      const account = await activeAccount(server.url, smtp);

      const verificationsBefore = server.hasher.verifications;
      const response = await changeEmail(account, { email: uniqueAddress('long'), password: 'x'.repeat(1025) });
      assert.equal(server.hasher.verifications - verificationsBefore, 0);
      assert.equal(response.status, 400);
      assert.deepEqual(errorPoints(response), ['password']);
    });

    test('invalid address is 400', async () => {
      const account = await activeAccount(server.url, smtp);

      for (const email of ['not-an-address', 'a@b', '', `${'x'.repeat(65)}@example.com`]) {
        const response = await changeEmail(account, { email, password: PASSWORD });
        assert.equal(response.status, 400, email);
        assert.deepEqual(errorPoints(response), ['email'], email);
      }
    });

    test('current address is 400', async () => {
      const account = await activeAccount(server.url, smtp);

      for (const email of [account.email, account.email.toUpperCase(), `  ${account.email} `]) {
        const response = await changeEmail(account, { email, password: PASSWORD });
        assert.equal(response.status, 400, email);
        assert.deepEqual(errorPoints(response), ['email'], email);
        assert.match(errorList(response)[0]?.error_message ?? '', /already the address/);
      }
    });

    test('malformed bodies are 400', async () => {
      const account = await activeAccount(server.url, smtp);
      const cases: Array<{ body: unknown; points: Array<string | null> }> = [
        { body: {}, points: ['email', 'password'] },
        { body: { email: uniqueAddress('typed') }, points: ['password'] },
        { body: { password: PASSWORD }, points: ['email'] },
        { body: { email: 42, password: PASSWORD }, points: ['email'] },
        { body: { email: uniqueAddress('typed'), password: null }, points: ['password'] },
        { body: { email: uniqueAddress('typed'), password: PASSWORD, name: 'x' }, points: ['name'] },
        { body: [], points: [null] },
      ];

      for (const { body, points } of cases) {
        const response = await changeEmail(account, body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.deepEqual(errorPoints(response).sort(), [...points].sort(), JSON.stringify(body));
      }
    });

    test('missing CSRF token is 403', async () => {
      const account = await activeAccount(server.url, smtp);
      const body = { email: uniqueAddress('csrf'), password: PASSWORD };

      const missing = await action(server.url, 'change_email', { body, cookies: account.cookies });
      assert.equal(missing.status, 403);
      assert.equal(errorList(missing)[0]?.error_type, 'permission');

      const wrong = await changeEmail(account, body, { 'X-CSRFToken': randomBytes(32).toString('base64url') });
      assert.equal(wrong.status, 403);
      assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE recipient = ?', body.email), 0);
    });

    test('unauthenticated caller is 401', async () => {
      const response = await action(server.url, 'change_email', { body: { email: uniqueAddress('anonymous'), password: PASSWORD } });
      assert.equal(response.status, 401);
      assert.equal(errorList(response)[0]?.error_type, 'permission');
      assert.match(response.headers.get('www-authenticate') ?? '', /Basic/);
    });
  });

  describe('confirm_email', () => {
    test('switches address and login', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('switched');
      const token = await requestToken(account, newEmail);
      const [before] = await sqlRows<{ digest_ha1_md5: string | null }>(server.dataDir, 'SELECT digest_ha1_md5 FROM accounts WHERE uuid = ?', [
        account.uuid,
      ]);
      assert.ok(before?.digest_ha1_md5, 'Digest hashes exist before the change');

      const confirmed = await action(server.url, 'confirm_email', { body: { token } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assert.deepEqual(confirmed.body, {});

      const [row] = await sqlRows<{ email: string; email_key: string; digest_ha1_md5: string | null; digest_ha1_sha256: string | null }>(
        server.dataDir,
        'SELECT email, email_key, digest_ha1_md5, digest_ha1_sha256 FROM accounts WHERE uuid = ?',
        [account.uuid],
      );
      assert.equal(row?.email, newEmail);
      assert.equal(row?.email_key, newEmail.toLowerCase());
      assert.equal(row?.digest_ha1_md5, null, 'MD5 Digest hash of the old address is cleared');
      assert.equal(row?.digest_ha1_sha256, null, 'SHA-256 Digest hash of the old address is cleared');

      const oldLogin = await login(account.email);
      assert.equal(oldLogin.status, 401);
      const newLogin = await login(newEmail);
      assert.equal(newLogin.status, 200, newLogin.text);
      assert.deepEqual(newLogin.body, { uuid: account.uuid });

      const [rewritten] = await sqlRows<{ digest_ha1_md5: string | null }>(server.dataDir, 'SELECT digest_ha1_md5 FROM accounts WHERE uuid = ?', [
        account.uuid,
      ]);
      assert.ok(rewritten?.digest_ha1_md5, 'login writes the Digest hashes again');

      const profile = await request(`${server.url}/api/2.0/profile/`, { method: 'GET', cookies: account.cookies });
      assert.equal(profile.status, 200, 'the session of the request stays valid');
      assert.equal((profile.body as { email: string }).email, newEmail);
    });

    test('used token is 400', async () => {
      const account = await activeAccount(server.url, smtp);
      const token = await requestToken(account, uniqueAddress('used'));

      assert.equal((await action(server.url, 'confirm_email', { body: { token } })).status, 200);
      const again = await action(server.url, 'confirm_email', { body: { token } });
      assert.equal(again.status, 400);
      assert.deepEqual(errorPoints(again), ['token']);
      assert.match(errorList(again)[0]?.error_message ?? '', /already been used/);
    });

    test('other email tokens are invalidated', async () => {
      const account = await activeAccount(server.url, smtp);
      const first = await requestToken(account, uniqueAddress('first'));
      const secondEmail = uniqueAddress('second');
      const second = await requestToken(account, secondEmail);

      assert.equal((await action(server.url, 'confirm_email', { body: { token: second } })).status, 200);

      const stale = await action(server.url, 'confirm_email', { body: { token: first } });
      assert.equal(stale.status, 400);
      assert.deepEqual(errorPoints(stale), ['token']);
      assert.equal((await login(secondEmail)).status, 200);
      const open = await countRows(server.dataDir, 'SELECT count(*) FROM tokens WHERE account_uuid = ? AND used_at IS NULL', account.uuid);
      assert.equal(open, 0);
    });

    test('expired token is 400', async () => {
      const account = await activeAccount(server.url, smtp);
      const token = await requestToken(account, uniqueAddress('expired'));
      await sqlRows(server.dataDir, "UPDATE tokens SET expires_at = ? WHERE account_uuid = ? AND purpose = 'email'", [Date.now() - 1000, account.uuid]);

      const response = await action(server.url, 'confirm_email', { body: { token } });
      assert.equal(response.status, 400);
      assert.deepEqual(errorPoints(response), ['token']);
      assert.match(errorList(response)[0]?.error_message ?? '', /expired/);
    });

    test('unknown or malformed token is 400', async () => {
      const cases: Array<{ body: unknown; points: Array<string | null> }> = [
        { body: { token: randomBytes(32).toString('base64url') }, points: ['token'] },
        { body: { token: 'not-a-token' }, points: ['token'] },
        { body: { token: '' }, points: ['token'] },
        { body: {}, points: ['token'] },
        { body: { token: 42 }, points: ['token'] },
        { body: { token: randomBytes(32).toString('base64url'), email: 'x' }, points: ['email'] },
      ];

      for (const { body, points } of cases) {
        const response = await action(server.url, 'confirm_email', { body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.deepEqual(errorPoints(response), points, JSON.stringify(body));
      }
    });

    test('confirmation token is not accepted', async () => {
      const email = uniqueAddress('wrong-purpose');
      await action(server.url, 'create', { body: { email } });
      const [mail] = await smtp.waitFor(email);
      const token = tokenOf(/https?:\/\/\S+\/accounts\/confirm\/\?token=[A-Za-z0-9_%-]+/.exec(mail?.text ?? '')?.[0] ?? '');

      const response = await action(server.url, 'confirm_email', { body: { token } });
      assert.equal(response.status, 400);
      assert.deepEqual(errorPoints(response), ['token']);
    });

    test('address taken meanwhile fails', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('taken-later');
      const token = await requestToken(account, newEmail);

      const created = await action(server.url, 'create', { body: { email: newEmail } });
      assert.equal(created.status, 200);

      const response = await action(server.url, 'confirm_email', { body: { token } });
      assert.equal(response.status, 400);
      assert.deepEqual(errorPoints(response), ['token']);
      assert.match(errorList(response)[0]?.error_message ?? '', /another account/);

      assert.equal((await login(account.email)).status, 200, 'the account keeps its address');
      const [row] = await emailTokenRows(account.uuid);
      assert.equal(row?.used_at, null, 'the failed change does not use up the token');
    });

    test('parallel confirms have one winner', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('parallel');
      const token = await requestToken(account, newEmail);

      const responses = await Promise.all(Array.from({ length: 8 }, () => action(server.url, 'confirm_email', { body: { token } })));

      const statuses = responses.map((response) => response.status).sort();
      assert.deepEqual(statuses, [200, 400, 400, 400, 400, 400, 400, 400]);
      for (const response of responses.filter((candidate) => candidate.status === 400)) {
        assert.deepEqual(errorPoints(response), ['token']);
      }
      assert.equal((await login(newEmail)).status, 200);
    });

    test('race with sign-up keeps one holder', async () => {
      for (let round = 0; round < 4; round += 1) {
        const account = await activeAccount(server.url, smtp);
        const newEmail = uniqueAddress('race-signup');
        const token = await requestToken(account, newEmail);

        const [confirmed, created] = await Promise.all([
          action(server.url, 'confirm_email', { body: { token } }),
          action(server.url, 'create', { body: { email: newEmail } }),
        ]);
        assert.equal(created.status, 200, created.text);
        assert.ok([200, 400].includes(confirmed.status), confirmed.text);

        const holders = await sqlRows<{ uuid: string }>(server.dataDir, 'SELECT uuid FROM accounts WHERE email_key = ?', [newEmail.toLowerCase()]);
        assert.equal(holders.length, 1, `round ${round}: one account has the address`);
        const expectedHolder = confirmed.status === 200 ? account.uuid : (created.body as { uuid: string }).uuid;
        assert.equal(holders[0]?.uuid, expectedHolder, `round ${round}: the winner has the address`);
      }
      assert.ok(!server.logLines.some((line) => (JSON.parse(line) as { level: number }).level >= 50), 'no request failed with a 5xx');
    });
  });

  describe('email page', () => {
    test('opening twice keeps token usable', async () => {
      const account = await activeAccount(server.url, smtp);
      const newEmail = uniqueAddress('page-twice');
      const token = await requestToken(account, newEmail);

      for (const attempt of [1, 2]) {
        const page = await openPage(`?token=${encodeURIComponent(token)}`);
        assert.equal(page.status, 200, `opening ${attempt}: ${page.text}`);
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
        assert.ok(page.headers.get('content-security-policy'), 'page sends its security headers');

        const [form] = startTags(page.text, 'form');
        assert.equal(form?.['data-action'], '/api/2.0/accounts/action/?do=confirm_email');
        const inputs = startTags(page.text, 'input');
        assert.deepEqual(
          inputs.map((input) => input.name),
          ['token'],
          'the only field is the hidden token',
        );
        assert.equal(inputs[0]?.type, 'hidden');
        assert.equal(inputs[0]?.value, token);
        assert.equal(startTags(page.text, 'button').length, 1);
        assert.ok(textOf(page.text).includes(newEmail), 'page names the new address');
      }

      const [row] = await emailTokenRows(account.uuid);
      assert.equal(row?.used_at, null, 'opening the page does not use the token');
      const confirmed = await action(server.url, 'confirm_email', { body: { token } });
      assert.equal(confirmed.status, 200, confirmed.text);
    });

    test('unusable tokens show a problem', async () => {
      const used = await activeAccount(server.url, smtp);
      const usedToken = await requestToken(used, uniqueAddress('page-used'));
      await action(server.url, 'confirm_email', { body: { token: usedToken } });

      const expired = await activeAccount(server.url, smtp);
      const expiredToken = await requestToken(expired, uniqueAddress('page-expired'));
      await sqlRows(server.dataDir, "UPDATE tokens SET expires_at = ? WHERE account_uuid = ? AND purpose = 'email'", [Date.now() - 1000, expired.uuid]);

      const taken = await activeAccount(server.url, smtp);
      const takenAddress = uniqueAddress('page-taken');
      const takenToken = await requestToken(taken, takenAddress);
      await action(server.url, 'create', { body: { email: takenAddress } });

      const cases = [
        { label: 'unknown token', query: `?token=${randomBytes(32).toString('base64url')}`, message: /not a valid email change token/ },
        { label: 'malformed token', query: '?token=not-a-token', message: /not a valid email change token/ },
        { label: 'no token', query: '', message: /not a valid email change token/ },
        { label: 'used token', query: `?token=${usedToken}`, message: /already been used/ },
        { label: 'expired token', query: `?token=${expiredToken}`, message: /expired/ },
        { label: 'taken address', query: `?token=${takenToken}`, message: /another account/ },
      ];

      for (const { label, query, message } of cases) {
        const page = await openPage(query);
        assert.equal(page.status, 400, label);
        assert.match(textOf(page.text), message, label);
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

      test('button confirms new address', async () => {
        const account = await activeAccount(server.url, smtp);
        const newEmail = uniqueAddress('browser');
        const token = await requestToken(account, newEmail);

        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          page.setDefaultTimeout(10_000);
          const requests: string[] = [];
          const problems: string[] = [];
          page.on('request', (sent) => requests.push(sent.url()));
          page.on('pageerror', (error) => problems.push(error.message));
          page.on('console', (message) => {
            if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
          });

          const opened = await page.goto(`${server.url}/accounts/email/?token=${encodeURIComponent(token)}`);
          assert.equal(opened?.status(), 200);

          const answered = page.waitForResponse((response) => response.url().includes('do=confirm_email'));
          await page.getByRole('button', { name: 'Confirm new address' }).click();
          assert.equal((await answered).status(), 200);
          await page.getByRole('status').filter({ hasText: /email address is changed/i }).waitFor();
          assert.equal(await page.getByRole('button', { name: 'Confirm new address' }).isVisible(), false, 'button is hidden after success');

          const origin = new URL(server.url).origin;
          for (const url of requests) assert.equal(new URL(url).origin, origin, `${url} is on the server's origin`);
          assert.deepEqual(problems, [], 'no script error and no Content-Security-Policy violation');
        } finally {
          await context.close();
        }

        const newLogin = await login(newEmail);
        assert.equal(newLogin.status, 200, newLogin.text);
        assert.deepEqual(newLogin.body, { uuid: account.uuid });
      });
    });
  });
});

describe('email change throttle', () => {
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

  function outboxCount(address: string): Promise<number> {
    return countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE lower(recipient) = ?', address.toLowerCase());
  }

  test('each address mailed once a minute', async () => {
    const account = await activeAccount(server.url, smtp);
    const newEmail = uniqueAddress('throttled');
    const headers = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };

    for (const attempt of [1, 2]) {
      const response = await action(server.url, 'change_email', { body: { email: newEmail, password: PASSWORD }, cookies: account.cookies, headers });
      assert.equal(response.status, 200, `attempt ${attempt}: ${response.text}`);
      assert.deepEqual(response.body, {});
    }

    // The outbox row is written in the request's transaction, so it exists when the response arrives.
    assert.equal(await outboxCount(newEmail), 1, 'one link to the new address');
    assert.equal(await outboxCount(account.email), 1, 'only the sign-up mail, sent less than a minute ago, to the old address');
    const tokens = await countRows(server.dataDir, "SELECT count(*) FROM tokens WHERE account_uuid = ? AND purpose = 'email'", account.uuid);
    assert.equal(tokens, 1, 'no token is made without a mail to carry it');
  });
});
