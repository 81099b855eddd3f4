import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import type { ParsedMail } from 'mailparser';

import { ConfigError } from '../src/config.js';
import { MAIL_TEMPLATES, type MailTemplateName, MailTemplates, SHIPPED_TEMPLATES_DIR } from '../src/mail/mail-templates.js';
import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action } from './helpers/client.js';
import { textOf } from './helpers/html.js';
import { startServerProcess } from './helpers/server-process.js';
import { startTestServer, tempDataDir } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOSTILE_NAME = '<b>Acme & Co</b>';

/** Creates a temporary override folder holding `files`, by file name. */
function overrideDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigma-accounts-templates-'));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

/** Asserts that an HTML part is safe for mail clients: no style sheet, no script and nothing loaded from elsewhere. */
function assertMailSafeHtml(html: string, label: string): void {
  assert.doesNotMatch(html, /<style/i, `${label}: no <style> block`);
  assert.doesNotMatch(html, /<script/i, `${label}: no <script>`);
  assert.doesNotMatch(html, /\ssrc\s*=/i, `${label}: no src= attribute`);
  assert.doesNotMatch(html, /<link\b/i, `${label}: no <link> element`);
  assert.doesNotMatch(html, /url\s*\(/i, `${label}: no url() in styles`);
  assert.match(html, /<table role="presentation"/, `${label}: table layout`);
}

async function signUpMail(baseUrl: string, smtp: SmtpSink, email: string): Promise<ParsedMail> {
  const created = await action(baseUrl, 'create', { body: { email } });
  assert.equal(created.status, 200, created.text);

  const [mail] = (await smtp.waitFor(email)).slice(-1);
  assert.ok(mail, 'a confirmation email arrived');
  return mail;
}

describe('mail templates', () => {
  let smtp: SmtpSink;
  let smtpUrl: string;

  before(async () => {
    smtp = new SmtpSink();
    smtpUrl = await smtp.start();
  });

  after(async () => {
    await smtp.stop();
  });

  test('confirmation uses product name and link base', async (t) => {
    const server = await startTestServer({ SMTP_URL: smtpUrl, PRODUCT_NAME: 'Acme Cloud', MAIL_LINK_BASE: 'https://accounts.example.test/portal/' });
    t.after(() => server.stop());

    const email = uniqueAddress('branded');
    const mail = await signUpMail(server.url, smtp, email);
    const link = confirmationLinkIn(mail);

    assert.equal(mail.subject, 'Confirm your Acme Cloud account');
    assert.match(mail.text ?? '', /signed up for Acme Cloud with this address/);
    assert.match(textOf(mail.html || ''), /signed up for Acme Cloud with this address/);
    assert.match(mail.html || '', /<title>Confirm your Acme Cloud account<\/title>/);
    assert.ok(link.startsWith('https://accounts.example.test/portal/accounts/confirm/?token='), link);
    assert.ok((mail.html || '').includes(`href="${link}"`), 'the button links to the same address');
    assert.match(mail.messageId ?? '', /@127\.0\.0\.1>$/, 'Message-ID still names the PUBLIC_URL host');
    assertMailSafeHtml(mail.html || '', 'confirmation email');

    const confirmed = await action(server.url, 'confirm', { body: { token: tokenOf(link), password: PASSWORD } });
    assert.equal(confirmed.status, 200, 'the token from the rebased link is valid');
  });

  test('pages and authenticator use product name', async (t) => {
    const server = await startTestServer({ SMTP_URL: smtpUrl, PRODUCT_NAME: 'Acme Cloud' });
    t.after(() => server.stop());

    const link = confirmationLinkIn(await signUpMail(server.url, smtp, uniqueAddress('branded-page')));
    const confirmPage = await (await fetch(`${server.url}/accounts/confirm/?token=${tokenOf(link)}`)).text();
    assert.match(confirmPage, /<title>Acme Cloud: set your password<\/title>/);
    assert.match(confirmPage, /your Acme Cloud account/);
    assert.doesNotMatch(confirmPage, /sigma-accounts/);

    const twoFactorPage = await (await fetch(`${server.url}/accounts/two-factor/`)).text();
    assert.match(twoFactorPage, /<title>Acme Cloud: two-factor authentication<\/title>/);

    const account = await activeAccount(server.url, smtp);
    const setup = await action(server.url, 'otp_setup', { cookies: account.cookies, headers: { 'X-CSRFToken': account.cookies.csrftoken ?? '' } });
    assert.equal(setup.status, 200, setup.text);
    assert.equal(new URL((setup.body as { uri: string }).uri).searchParams.get('issuer'), 'Acme Cloud');

    const reference = await (await fetch(`${server.url}/docs/`)).text();
    assert.match(reference, /Acme Cloud API reference/);
  });

  test('override replaces only its file', async (t) => {
    const dir = overrideDir({
      'confirmation.txt': 'Subject: Welcome to {{productName}}\n\nYour link: {{link}}\nIt expires in {{validFor}}.\n',
      'password-reset.html': '<!doctype html><html><body><table role="presentation"><tr><td><p>Custom reset for {{productName}}: <a href="{{link}}">reset</a></p></td></tr></table></body></html>\n',
      'README.md': 'Files other than .txt and .html are ignored.\n',
    });
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const server = await startTestServer({ SMTP_URL: smtpUrl, MAIL_TEMPLATES_DIR: dir, MAIL_THROTTLE_SECONDS: '0' });
    t.after(() => server.stop());

    const account = await activeAccount(server.url, smtp, uniqueAddress('override'));
    const [confirmation] = smtp.to(account.email);
    assert.ok(confirmation);
    assert.equal(confirmation.subject, 'Welcome to sigma-accounts');
    assert.match(confirmation.text ?? '', /^Your link: http:\/\/127\.0\.0\.1:\d+\/accounts\/confirm\/\?token=\S+\nIt expires in 3 days\.$/);
    assert.match(confirmation.html || '', /Confirm and set a password/, 'the HTML part of the same message is still the shipped one');

    const requested = await action(server.url, 'request_password_reset', { body: { email: account.email } });
    assert.equal(requested.status, 200, requested.text);
    const [reset] = (await smtp.waitFor(account.email, 2)).slice(-1);
    assert.ok(reset);
    assert.equal(reset.subject, 'Reset your sigma-accounts password');
    assert.match(reset.text ?? '', /To choose a new password, open this link:/, 'the text part is still the shipped one');
    assert.match(reset.html || '', /<p>Custom reset for sigma-accounts: <a href="http:\/\/127\.0\.0\.1:\d+\/accounts\/reset\/\?token=[^"]+">reset<\/a><\/p>/);
  });

  test('HTML characters are escaped only in HTML', async (t) => {
    const server = await startTestServer({ SMTP_URL: smtpUrl, PRODUCT_NAME: HOSTILE_NAME });
    t.after(() => server.stop());

    const mail = await signUpMail(server.url, smtp, uniqueAddress('escaped'));
    const html = mail.html || '';

    assert.equal(mail.subject, `Confirm your ${HOSTILE_NAME} account`);
    assert.ok((mail.text ?? '').includes(`signed up for ${HOSTILE_NAME} with this address`), 'text part keeps the name verbatim');
    assert.ok(html.includes('signed up for &lt;b&gt;Acme &amp; Co&lt;/b&gt; with this address'), 'HTML body escapes the name');
    assert.ok(html.includes('<title>Confirm your &lt;b&gt;Acme &amp; Co&lt;/b&gt; account</title>'), 'HTML title escapes the subject');
    assert.ok(!html.includes('<b>'), 'HTML part has no unescaped <b>');
    assert.ok(!html.includes('Acme & Co'), 'HTML part has no bare ampersand from the name');
  });

  test('every template escapes every value', () => {
    const templates = MailTemplates.load(null);
    const hostile = `<i>"x" & 'y'</i>`;

    for (const name of Object.keys(MAIL_TEMPLATES) as MailTemplateName[]) {
      const values = Object.fromEntries([...MAIL_TEMPLATES[name], 'productName', 'serviceUrl'].map((key) => [key, hostile]));
      const rendered = templates.render(name, values);

      assert.ok(!rendered.html.includes('<i>'), `${name}: HTML has no unescaped value`);
      assert.ok(rendered.html.includes('&lt;i&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/i&gt;'), `${name}: HTML has the escaped value`);
      assert.ok(rendered.text.includes(hostile), `${name}: text has the value verbatim`);
      assert.ok(rendered.subject.includes(hostile), `${name}: subject has the value verbatim`);
    }
  });

  test('shipped HTML is safe for mail clients', () => {
    for (const name of Object.keys(MAIL_TEMPLATES)) {
      const html = fs.readFileSync(path.join(SHIPPED_TEMPLATES_DIR, `${name}.html`), 'utf8');
      assertMailSafeHtml(html, `${name}.html`);
      assert.doesNotMatch(html, /<div\b/i, `${name}.html: layout uses tables, not divs`);
      assert.doesNotMatch(html, /\sclass\s*=/i, `${name}.html: inline styles only`);
    }
  });

  test('broken override stops the start', async (t) => {
    const cases: Array<{ files: Record<string, string>; problem: RegExp; label: string }> = [
      {
        label: 'unknown placeholder',
        files: { 'confirmation.html': '<p>Hello</p>\n<p>{{lnk}}</p>\n' },
        problem: /confirmation\.html line 2: unknown placeholder \{\{lnk\}\}\. This template can use link, productName, serviceUrl, subject, validFor$/,
      },
      {
        label: 'placeholder of another message',
        files: { 'existing-account.txt': 'Subject: Hi\n\nOpen {{link}}\n' },
        problem: /existing-account\.txt line 3: unknown placeholder \{\{link\}\}/,
      },
      {
        label: 'unclosed section',
        files: { 'password-changed.txt': 'Subject: Changed\n\nHello,\n{{#byResetLink}}by link\n' },
        problem: /password-changed\.txt is not a valid Mustache template: unclosed section "byResetLink" on line 4$/,
      },
      {
        label: 'unclosed tag',
        files: { 'two-factor-changed.html': '<p>{{state</p>\n' },
        problem: /two-factor-changed\.html is not a valid Mustache template: unclosed tag on line 1$/,
      },
      {
        label: 'unescaped HTML placeholder',
        files: { 'email-change-requested.html': '<p>{{{newAddress}}}</p>\n' },
        problem: /email-change-requested\.html line 1: \{\{\{newAddress\}\}\} and \{\{&newAddress\}\} are not allowed in HTML templates because they skip HTML escaping\. Write \{\{newAddress\}\} instead$/,
      },
      {
        label: 'partial',
        files: { 'password-reset.html': '{{> footer}}\n' },
        problem: /password-reset\.html line 1: partials such as \{\{> footer\}\} are not supported/,
      },
      {
        label: 'missing subject line',
        files: { 'email-change-link.txt': 'Hello,\n\n{{link}}\n' },
        problem: /email-change-link\.txt must start with a non-empty "Subject: \.\.\." line followed by an empty line$/,
      },
      {
        label: 'unknown file name',
        files: { 'welcome.html': '<p>Hi</p>\n' },
        problem: /welcome\.html is not a known template file\. Name it NAME\.txt or NAME\.html, where NAME is one of confirmation, existing-account, /,
      },
    ];

    for (const { files, problem, label } of cases) {
      const dir = overrideDir(files);
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));

      await assert.rejects(startTestServer({ MAIL_TEMPLATES_DIR: dir }), (error: unknown) => {
        assert.ok(error instanceof ConfigError, `${label}: a ConfigError`);
        assert.ok(error.message.startsWith(`MAIL_TEMPLATES_DIR: ${dir}${path.sep}`), `${label}: names the file: ${error.message}`);
        assert.match(error.message, problem, label);
        assert.ok(!error.message.includes('\n'), `${label}: one line`);
        return true;
      });
    }

    const missing = path.join(os.tmpdir(), `sigma-accounts-no-such-folder-${process.pid}`);
    await assert.rejects(startTestServer({ MAIL_TEMPLATES_DIR: missing }), /^ConfigError: MAIL_TEMPLATES_DIR: .* cannot be read as a folder \(ENOENT\)$/);
  });

  test('built server prints one line for a broken override', async (t) => {
    const dir = overrideDir({ 'confirmation.txt': 'Subject: Hi\n\n{{#link}}\n' });
    const dataDir = tempDataDir();
    t.after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), 'serve'], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, MAIL_TEMPLATES_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    assert.equal(code, 2);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.equal(
      stderr.trim(),
      `sigma-accounts: invalid setting: MAIL_TEMPLATES_DIR: ${path.join(dir, 'confirmation.txt')} is not a valid Mustache template: unclosed section "link" on line 3`,
    );
  });

  test('built server finds shipped templates', async (t) => {
    const server = await startServerProcess({ SMTP_URL: smtpUrl, PRODUCT_NAME: 'Acme Cloud', MAIL_POLL_MS: '50' });
    t.after(() => server.stop());

    const mail = await signUpMail(server.url, smtp, uniqueAddress('built'));

    assert.equal(mail.subject, 'Confirm your Acme Cloud account');
    assert.ok(confirmationLinkIn(mail).startsWith(`${server.url}/accounts/confirm/?token=`));
    assert.match(mail.html || '', /Confirm and set a password/);
  });
});
