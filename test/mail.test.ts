import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { simpleParser } from 'mailparser';

import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, request } from './helpers/client.js';
import { outboxRows, sleep, waitUntil } from './helpers/outbox.js';
import { freePort } from './helpers/ports.js';
import { startTestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';

// The mail worker polls every 50 ms in tests, so in this time a message that should not be sent (again)
// would have many chances to show up.
const SETTLE_MS = 700;

// The first retry comes 5 s after a failed attempt.
const RETRY_TIMEOUT_MS = 12_000;

interface LogEntry {
  msg?: string;
  mailId?: string;
  attempts?: number;
  responseCode?: number;
  retryInMs?: number;
}

describe('mail delivery', () => {
  let smtp: SmtpSink;
  let smtpUrl: string;

  before(async () => {
    smtp = new SmtpSink();
    smtpUrl = await smtp.start();
  });

  afterEach(() => {
    smtp.refusing = false;
  });

  after(async () => {
    await smtp.stop();
  });

  test('temporary SMTP failure is retried', async (t) => {
    smtp.refusing = true;
    const server = await startTestServer({ SMTP_URL: smtpUrl });
    t.after(() => server.stop());

    const email = uniqueAddress('retry');
    const created = await action(server.url, 'create', { body: { email } });
    assert.equal(created.status, 200);

    await waitUntil(async () => (await outboxRows(server.dataDir))[0]?.last_error != null, 'the first attempt failed');
    const [failed] = await outboxRows(server.dataDir);
    assert.ok(failed);
    assert.equal(failed.attempts, 1);
    assert.equal(failed.sent_at, null);
    assert.equal(failed.failed_at, null, 'one temporary failure does not give the message up');
    assert.ok(failed.next_attempt_at > Date.now(), 'the retry is scheduled in the future');
    assert.equal(smtp.to(email).length, 0);

    const retryLine = server.logLines.find((line) => (JSON.parse(line) as LogEntry).msg === 'mail delivery failed; will retry');
    assert.ok(retryLine, 'the failed attempt is logged');
    const retryEntry = JSON.parse(retryLine) as LogEntry;
    assert.equal(retryEntry.mailId, failed.id);
    assert.equal(retryEntry.responseCode, 451);
    assert.equal(retryEntry.retryInMs, 5000);
    assert.ok(!retryLine.includes(email), 'the log line does not name the recipient');

    smtp.refusing = false;
    await smtp.waitFor(email, 1, RETRY_TIMEOUT_MS);
    await waitUntil(async () => (await outboxRows(server.dataDir))[0]?.sent_at != null, 'the message is recorded as sent');
    await sleep(SETTLE_MS);

    assert.equal(smtp.to(email).length, 1);
    const [sent] = await outboxRows(server.dataDir);
    assert.ok(sent);
    assert.ok(sent.attempts > 1, `attempts is ${sent.attempts}`);
    assert.equal(sent.failed_at, null);
  });

  test('delivery gives up after MAIL_MAX_ATTEMPTS', async (t) => {
    smtp.refusing = true;
    const rejectedBefore = smtp.rejectedCount;
    const server = await startTestServer({ SMTP_URL: smtpUrl, MAIL_MAX_ATTEMPTS: '2' });
    t.after(() => server.stop());

    const email = uniqueAddress('give-up');
    const created = await action(server.url, 'create', { body: { email } });
    assert.equal(created.status, 200);

    await waitUntil(async () => (await outboxRows(server.dataDir))[0]?.failed_at != null, 'the message is given up', RETRY_TIMEOUT_MS);
    const [row] = await outboxRows(server.dataDir);
    assert.ok(row);
    assert.equal(row.attempts, 2);
    assert.equal(row.sent_at, null);
    assert.equal(row.lease_until, null);
    assert.ok(row.last_error, 'last_error records the reason');
    assert.match(row.last_error, /451/);
    assert.equal(smtp.rejectedCount - rejectedBefore, 2, 'the SMTP server saw both attempts');

    const entries = server.logLines.map((line) => JSON.parse(line) as LogEntry);
    const givenUp = entries.filter((entry) => entry.msg === 'mail delivery failed; giving up');
    assert.equal(givenUp.length, 1);
    assert.equal(givenUp[0]?.mailId, row.id);
    assert.equal(givenUp[0]?.attempts, 2);

    smtp.refusing = false;
    await sleep(SETTLE_MS);
    assert.equal(smtp.to(email).length, 0, 'a message given up is not sent later');
    assert.equal((await outboxRows(server.dataDir))[0]?.attempts, 2);
  });

  test('without SMTP_URL mail is an .eml file', async (t) => {
    // A fixed port, so that the default PUBLIC_URL (http://HOST:PORT) is where the server listens and the
    // link in the mail can be opened as it is.
    const port = await freePort();
    const server = await startTestServer({ PORT: String(port) });
    t.after(() => server.stop());

    const email = uniqueAddress('eml');
    const created = await action(server.url, 'create', { body: { email } });
    assert.equal(created.status, 200);

    const mailDir = path.join(server.dataDir, 'mail');
    await waitUntil(() => emlFiles(mailDir).length > 0, 'an .eml file is written');
    await sleep(SETTLE_MS);
    const files = fs.readdirSync(mailDir);
    assert.equal(files.length, 1, `files in the mail folder: ${files.join(', ')}`);
    assert.match(files[0] ?? '', /^[0-9a-f-]{36}\.eml$/);

    const mail = await simpleParser(fs.readFileSync(path.join(mailDir, files[0] ?? '')));
    const [row] = await outboxRows(server.dataDir);
    assert.ok(row);
    assert.notEqual(row.sent_at, null);
    assert.equal(files[0], `${row.id}.eml`);
    assert.equal(mail.messageId, row.message_id);

    assert.ok(mail.to, 'the mail has a To header');
    assert.ok(!Array.isArray(mail.to), 'the mail has one To header');
    assert.deepEqual(
      mail.to.value.map((entry) => entry.address),
      [email],
    );
    assert.equal(mail.from?.value[0]?.address, 'no-reply@127.0.0.1');
    assert.match(mail.subject ?? '', /Confirm your sigma-accounts account/);
    assert.ok(mail.text, 'the mail has a plain-text part');
    assert.ok(mail.html, 'the mail has an HTML part');

    const link = confirmationLinkIn(mail);
    assert.ok(link.startsWith(`http://127.0.0.1:${port}/accounts/confirm/?token=`), link);
    assert.ok(mail.html.includes(`href="${link}"`), 'the HTML part links to the same address');

    const page = await request(link, { method: 'GET', headers: { Accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.text, /<form/);

    const confirmed = await action(server.url, 'confirm', { body: { token: tokenOf(link), password: PASSWORD } });
    assert.equal(confirmed.status, 200);
    assert.deepEqual(confirmed.body, { uuid: (created.body as { uuid: string }).uuid });

    const login = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200);
  });

  test('create does not wait for refusing SMTP', async (t) => {
    smtp.refusing = true;
    const server = await startTestServer({ SMTP_URL: smtpUrl });
    t.after(() => server.stop());

    const created = await action(server.url, 'create', {
      body: { email: uniqueAddress('not-waiting') },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(created.status, 200);
    assert.equal((created.body as { success: boolean }).success, true);
  });

  test('create does not wait for silent SMTP', async (t) => {
    // An SMTP server that accepts connections and never sends its greeting. A send to it hangs until
    // nodemailer's greeting timeout (30 s by default), far longer than this test waits.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const silentPort = typeof address === 'object' && address ? address.port : 0;

    const server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${silentPort}` });
    t.after(async () => {
      // Dropping the connections makes the pending send fail at once, so that the graceful stop, which
      // waits for the message in hand, does not wait for the SMTP client's timeout.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      await server.stop();
    });

    const email = uniqueAddress('silent');
    const created = await action(server.url, 'create', { body: { email }, signal: AbortSignal.timeout(5000) });
    assert.equal(created.status, 200);

    await waitUntil(() => sockets.size > 0, 'the mail worker connected to the silent SMTP server');
    const checked = await action(server.url, 'check_login', { signal: AbortSignal.timeout(5000) });
    assert.equal(checked.status, 401, 'the server keeps answering while a send hangs');
  });
});

function emlFiles(mailDir: string): string[] {
  return fs.existsSync(mailDir) ? fs.readdirSync(mailDir).filter((name) => name.endsWith('.eml')) : [];
}
