import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { startTags, textOf } from './helpers/html.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';

const PUBLIC_URL = 'http://accounts.test:8080';


// Referrer policies that never send the page's path, and so its token, to another origin.
const SAFE_REFERRER_POLICIES = [
  'no-referrer',
  'same-origin',
  'origin',
  'strict-origin',
  'origin-when-cross-origin',
  'strict-origin-when-cross-origin',
];

describe('confirmation page', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ SMTP_URL: smtpUrl, PUBLIC_URL });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  /** Signs up a new address and returns the account uuid and the link from its confirmation mail. */
  async function signUpForLink(prefix: string): Promise<{ email: string; uuid: string; link: string; token: string }> {
    const email = uniqueAddress(prefix);
    const created = await action(server.url, 'create', { body: { email } });
    assert.equal(created.status, 200, created.text);

    const [mail] = await smtp.waitFor(email);
    assert.ok(mail, `no mail to ${email}`);
    const link = confirmationLinkIn(mail);
    assert.ok(link.startsWith(`${PUBLIC_URL}/accounts/confirm/?token=`), link);

    return { email, uuid: (created.body as { uuid: string }).uuid, link, token: tokenOf(link) };
  }

  /** Returns the link from a mail with its origin replaced by the test server's, which listens on a random port. */
  function onTestServer(link: string): string {
    const url = new URL(link);
    return `${server.url}${url.pathname}${url.search}`;
  }

  function openPage(url: string): Promise<ApiResponse> {
    return request(url, { method: 'GET', headers: { Accept: 'text/html' } });
  }

  function assertNoForm(page: ApiResponse): void {
    assert.equal(startTags(page.text, 'form').length, 0, 'page has no form');
    assert.equal(startTags(page.text, 'input').length, 0, 'page has no input field');
    assert.doesNotMatch(page.text, /confirm\.js/, 'page loads no form script');
  }

  function assertSecurityHeaders(page: ApiResponse): void {
    const policy = page.headers.get('content-security-policy') ?? '';
    assert.ok(policy, 'Content-Security-Policy is sent');
    assert.doesNotMatch(policy, /'unsafe-inline'/);
    assert.doesNotMatch(policy, /'unsafe-eval'/);
    assert.match(policy, /(^|;)\s*frame-ancestors 'none'\s*(;|$)/);

    const referrerPolicy = page.headers.get('referrer-policy') ?? '';
    assert.ok(SAFE_REFERRER_POLICIES.includes(referrerPolicy), `Referrer-Policy "${referrerPolicy}" keeps the token on this origin`);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.match(page.headers.get('cache-control') ?? '', /\bno-store\b/);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html; charset=utf-8$/i);
  }

  test('opening twice keeps token usable', async () => {
    const { uuid, link, token } = await signUpForLink('page-twice');

    for (const attempt of [1, 2]) {
      const page = await openPage(onTestServer(link));
      assert.equal(page.status, 200, `opening ${attempt}: ${page.text}`);
      assert.equal(startTags(page.text, 'form').length, 1, `opening ${attempt} shows the form`);
    }

    const confirmed = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.deepEqual(confirmed.body, { uuid });
  });

  test('form has labelled password fields', async () => {
    const { link, token } = await signUpForLink('page-fields');

    const page = await openPage(onTestServer(link));
    assert.equal(page.status, 200);

    const inputs = startTags(page.text, 'input');
    const labels = startTags(page.text, 'label');
    for (const name of ['password', 'repeat']) {
      const field = inputs.find((input) => input.name === name);
      assert.ok(field, `an input named ${name}`);
      assert.equal(field.type, 'password', `${name} hides what is typed`);
      assert.equal(field.autocomplete, 'new-password', `${name} lets password managers offer a new password`);
      assert.ok(field.id, `${name} has an id for its label`);
      assert.ok(
        labels.some((label) => label.for === field.id),
        `a label for #${field.id}`,
      );
    }

    const hidden = inputs.find((input) => input.name === 'token');
    assert.equal(hidden?.type, 'hidden');
    assert.equal(hidden?.value, token);

    const [form] = startTags(page.text, 'form');
    assert.equal(form?.['data-action'], '/api/2.0/accounts/action/?do=confirm');
  });

  test('page loads nothing from other origins', async () => {
    const { link } = await signUpForLink('page-origins');
    const pageUrl = onTestServer(link);

    const page = await openPage(pageUrl);
    assert.equal(page.status, 200);

    const references = [...page.text.matchAll(/\s(?:src|href)\s*=\s*["']?([^"'\s>]*)/gi)].map((match) => match[1] ?? '');
    assert.ok(references.length >= 2, 'page references its script and style sheet');
    for (const reference of references) {
      assert.doesNotMatch(reference, /^\s*(https?:)?\/\//i, `${reference} is on the page's own origin`);
    }

    // The policy forbids inline code, so markup that relies on it would silently break the page.
    for (const script of startTags(page.text, 'script')) {
      assert.ok(script.src, 'every script is loaded from a file');
    }
    assert.equal(startTags(page.text, 'style').length, 0, 'no inline style sheet');
    assert.doesNotMatch(page.text, /\sstyle\s*=/i, 'no style attribute');
    assert.doesNotMatch(page.text, /\son[a-z]+\s*=/i, 'no inline event handler');

    const assets = [
      ...startTags(page.text, 'script').map((script) => ({ url: script.src ?? '', type: /^text\/javascript\b/ })),
      ...startTags(page.text, 'link')
        .filter((linkTag) => linkTag.rel === 'stylesheet')
        .map((linkTag) => ({ url: linkTag.href ?? '', type: /^text\/css\b/ })),
    ];
    assert.equal(assets.length, 2, 'one script and one style sheet');
    for (const asset of assets) {
      const response = await request(new URL(asset.url, pageUrl).href, { method: 'GET', headers: { Accept: '*/*' } });
      assert.equal(response.status, 200, asset.url);
      assert.match(response.headers.get('content-type') ?? '', asset.type, asset.url);
      assert.doesNotMatch(response.text, /url\(\s*['"]?(https?:)?\/\//i, `${asset.url} loads nothing from other origins`);
      assert.doesNotMatch(response.text, /https?:\/\//i, `${asset.url} names no other origin`);
    }
  });

  test('form page sends security headers', async () => {
    const { link } = await signUpForLink('page-headers');

    const page = await openPage(onTestServer(link));
    assert.equal(page.status, 200);
    assertSecurityHeaders(page);
  });

  test('unknown token shows message without form', async () => {
    const unknown = randomBytes(32).toString('base64url');
    const cases = [
      { label: 'unknown token', url: `${server.url}/accounts/confirm/?token=${unknown}` },
      { label: 'malformed token', url: `${server.url}/accounts/confirm/?token=not-a-token` },
      { label: 'no token', url: `${server.url}/accounts/confirm/` },
    ];

    for (const { label, url } of cases) {
      const page = await openPage(url);
      assert.equal(page.status, 400, label);
      assert.match(textOf(page.text), /not a valid confirmation token/i, label);
      assertNoForm(page);
      assertSecurityHeaders(page);
    }
  });

  test('used token shows message without form', async () => {
    const { link, token } = await signUpForLink('page-used');
    const confirmed = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });
    assert.equal(confirmed.status, 200, confirmed.text);

    const page = await openPage(onTestServer(link));
    assert.equal(page.status, 400);
    assert.match(textOf(page.text), /already been used/i);
    assertNoForm(page);
    assertSecurityHeaders(page);
  });

  test('expired token shows message without form', async () => {
    const { uuid, link, token } = await signUpForLink('page-expired');
    const changed = await sqlRows(server.dataDir, 'UPDATE tokens SET expires_at = ? WHERE account_uuid = ? RETURNING digest', [
      Date.now() - 60_000,
      uuid,
    ]);
    assert.equal(changed.length, 1, 'one token row expired');

    const page = await openPage(onTestServer(link));
    assert.equal(page.status, 400);
    assert.match(textOf(page.text), /expired/i);
    assertNoForm(page);
    assertSecurityHeaders(page);

    const confirmed = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });
    assert.equal(confirmed.status, 400);
    assert.deepEqual(
      errorList(confirmed).map((entry) => entry.error_point),
      ['token'],
    );
  });

  describe('in headless Chromium', { skip: chromiumSkip }, () => {
    let browser: Browser;

    before(async () => {
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
    });

    /** What a page did while a test drove it. */
    interface PageActivity {
      requests: string[];
      /** `STATUS URL` of every response with a 4xx or 5xx status. */
      failedResponses: string[];
      /** Console errors other than Chromium's "Failed to load resource", which failedResponses covers. */
      consoleErrors: string[];
    }

    /** Runs `work` on a new page in a fresh browser context, recording the page's activity. */
    async function withPage(work: (page: Page, activity: PageActivity) => Promise<void>): Promise<void> {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);

      const activity: PageActivity = { requests: [], failedResponses: [], consoleErrors: [] };
      page.on('request', (sent) => activity.requests.push(sent.url()));
      page.on('response', (response) => {
        if (response.status() >= 400) activity.failedResponses.push(`${response.status()} ${response.url()}`);
      });
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
          activity.consoleErrors.push(message.text());
        }
      });
      page.on('pageerror', (error) => activity.consoleErrors.push(error.message));

      try {
        await work(page, activity);
      } finally {
        await context.close();
      }
    }

    async function fillPasswords(page: Page, password: string, repeat: string): Promise<void> {
      await page.getByLabel('New password').fill(password);
      await page.getByLabel('Repeat the password').fill(repeat);
    }

    async function waitForStatus(page: Page, text: string | RegExp): Promise<void> {
      await page.getByRole('status').filter({ hasText: text }).waitFor();
    }

    test('submitting form sets password', async () => {
      const { email, uuid, link } = await signUpForLink('browser-submit');
      const password = `${PASSWORD} in chromium`;

      await withPage(async (page, activity) => {
        const opened = await page.goto(onTestServer(link));
        assert.equal(opened?.status(), 200);

        await fillPasswords(page, password, password);
        await page.getByRole('button', { name: 'Set password' }).click();
        await waitForStatus(page, /password is set/i);

        const cookies = await page.context().cookies(server.url);
        assert.ok(
          cookies.some((cookie) => cookie.name === 'sessionid' && cookie.value !== ''),
          'browser is logged in',
        );

        const origin = new URL(server.url).origin;
        for (const url of activity.requests) {
          assert.equal(new URL(url).origin, origin, `${url} is on the server's origin`);
        }
        // Browsers ask for /favicon.ico by themselves; the page never links one.
        const failed = activity.failedResponses.filter((line) => !line.endsWith('/favicon.ico'));
        assert.deepEqual(failed, [], 'every request of the page succeeds');
        assert.deepEqual(activity.consoleErrors, [], 'no script error and no Content-Security-Policy violation');
      });

      const login = await action(server.url, 'login', { body: { username: email, password } });
      assert.equal(login.status, 200, login.text);
      assert.deepEqual(login.body, { uuid });
    });

    test('form disappears after success', async () => {
      const { link } = await signUpForLink('browser-hidden');
      const password = `${PASSWORD} then hidden`;

      await withPage(async (page) => {
        await page.goto(onTestServer(link));

        await fillPasswords(page, password, password);
        await page.getByRole('button', { name: 'Set password' }).click();
        await waitForStatus(page, /password is set/i);

        // A form still shown after success invites a second submit, which fails on the used token.
        assert.equal(await page.getByLabel('New password').isVisible(), false, 'password field is hidden');
        assert.equal(await page.getByRole('button', { name: 'Set password' }).isVisible(), false, 'submit button is hidden');
      });
    });

    test('mismatched repeat stays in page', async () => {
      const { link, token } = await signUpForLink('browser-mismatch');

      await withPage(async (page, activity) => {
        await page.goto(onTestServer(link));

        await fillPasswords(page, `${PASSWORD} one`, `${PASSWORD} two`);
        await page.getByRole('button', { name: 'Set password' }).click();
        await waitForStatus(page, /not the same/i);

        const apiCalls = activity.requests.filter((url) => new URL(url).pathname.startsWith('/api/'));
        assert.deepEqual(apiCalls, [], 'no API request was sent');
      });

      const page = await openPage(`${server.url}/accounts/confirm/?token=${encodeURIComponent(token)}`);
      assert.equal(page.status, 200, 'token is still usable');
    });

    test('weak password shows server message', async () => {
      const { email, uuid, link } = await signUpForLink('browser-weak');
      const password = `${PASSWORD} after a retry`;

      await withPage(async (page) => {
        await page.goto(onTestServer(link));

        await fillPasswords(page, 'password1', 'password1');
        const answered = page.waitForResponse((response) => response.url().includes('do=confirm'));
        await page.getByRole('button', { name: 'Set password' }).click();
        const response = await answered;

        assert.equal(response.status(), 400);
        const [entry] = (await response.json()) as Array<{ error_point: string | null; error_message: string }>;
        assert.equal(entry?.error_point, 'password');
        assert.ok(entry?.error_message);
        await waitForStatus(page, entry.error_message);

        // The same page, with the same token, accepts a good password next.
        await fillPasswords(page, password, password);
        await page.getByRole('button', { name: 'Set password' }).click();
        await waitForStatus(page, /password is set/i);
      });

      const login = await action(server.url, 'login', { body: { username: email, password } });
      assert.equal(login.status, 200, login.text);
      assert.deepEqual(login.body, { uuid });
    });
  });
});
