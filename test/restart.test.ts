import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { activeAccount, uniqueAddress } from './helpers/accounts.js';
import { action } from './helpers/client.js';
import { outboxRows, sleep, waitUntil } from './helpers/outbox.js';
import { freePort } from './helpers/ports.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';

// After mail arrives, the tests wait this long (many mail-worker polls of 50 ms) before counting again, so
// that a second copy would have had time to arrive.
const SETTLE_MS = 1500;

// A message rejected once is retried 5 s later, so delivery after a restart can take that long.
const REDELIVERY_TIMEOUT_MS = 15_000;

describe('server restart on the same data folder', () => {
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

  test('accounts and sessions survive restart', async (t) => {
    const first = await startTestServer({ SMTP_URL: smtpUrl });
    t.after(() => first.stop());

    const account = await activeAccount(first.url, smtp, uniqueAddress('restart-session'));
    const login = await action(first.url, 'login', { body: { username: account.email, password: account.password } });
    assert.equal(login.status, 200);
    const sessionId = login.cookies.sessionid?.value;
    const csrfToken = login.cookies.csrftoken?.value;
    assert.ok(sessionId, 'login set a sessionid cookie');
    assert.ok(csrfToken, 'login set a csrftoken cookie');
    const cookies = { sessionid: sessionId, csrftoken: csrfToken };

    await first.stop();
    const second = await startTestServer({ DATA_DIR: first.dataDir, SMTP_URL: smtpUrl });
    t.after(() => second.stop());

    const checked = await action(second.url, 'check_login', { cookies });
    assert.equal(checked.status, 200);
    assert.deepEqual(checked.body, {});

    const uuidCheck = await action(second.url, 'check_login_with_return_uuid', { cookies });
    assert.equal(uuidCheck.status, 200);
    assert.deepEqual(uuidCheck.body, { uuid: account.uuid });

    const confirmSession = await action(second.url, 'check_login', { cookies: account.cookies });
    assert.equal(confirmSession.status, 200, 'the session started by confirm also survives');

    const relogin = await action(second.url, 'login', { body: { username: account.email, password: account.password } });
    assert.equal(relogin.status, 200);
    assert.deepEqual(relogin.body, { uuid: account.uuid });

    const logout = await action(second.url, 'logout', { cookies, headers: { 'X-CSRFToken': csrfToken } });
    assert.equal(logout.status, 200, 'the CSRF token issued before the restart is still bound to its session');
    assert.equal((await action(second.url, 'check_login', { cookies })).status, 401);

    assert.equal(smtp.to(account.email).length, 1, 'the restart sent no second confirmation mail');
  });

  test('mail rejected before restart arrives once', async (t) => {
    smtp.refusing = true;
    const rejectedBefore = smtp.rejectedCount;
    const first = await startTestServer({ SMTP_URL: smtpUrl });
    t.after(() => first.stop());

    const emails = [uniqueAddress('queued-a'), uniqueAddress('queued-b'), uniqueAddress('queued-c')];
    await signUpUntilEachAttemptFailed(first, emails);

    await first.stop();
    for (const email of emails) {
      assert.equal(smtp.to(email).length, 0, `nothing reached ${email} while the SMTP server rejected mail`);
    }
    assert.ok(smtp.rejectedCount - rejectedBefore >= emails.length, 'the SMTP server rejected every message');
    for (const row of await outboxRows(first.dataDir)) {
      assert.equal(row.sent_at, null, `message ${row.id} is still unsent after the stop`);
      assert.equal(row.failed_at, null, `message ${row.id} is not given up after the stop`);
      assert.equal(row.lease_until, null, `message ${row.id} is not leased after the stop`);
    }

    smtp.refusing = false;
    const second = await startTestServer({ DATA_DIR: first.dataDir, SMTP_URL: smtpUrl });
    t.after(() => second.stop());

    await assertEachArrivesOnce(smtp, emails);
    await assertAllSent(first.dataDir, emails.length);
    await assertMessageIdsMatch(smtp, emails, first.dataDir);
  });

  test('mail queued while SMTP is unreachable arrives after restart', async (t) => {
    const unreachableUrl = `smtp://127.0.0.1:${await freePort()}`;
    const first = await startTestServer({ SMTP_URL: unreachableUrl });
    t.after(() => first.stop());

    const emails = [uniqueAddress('unreachable-a'), uniqueAddress('unreachable-b')];
    await signUpUntilEachAttemptFailed(first, emails);
    await first.stop();

    const second = await startTestServer({ DATA_DIR: first.dataDir, SMTP_URL: smtpUrl });
    t.after(() => second.stop());

    await assertEachArrivesOnce(smtp, emails);
    await assertAllSent(first.dataDir, emails.length);
  });

  test('mail accepted before stop is not resent', async (t) => {
    const first = await startTestServer({ SMTP_URL: smtpUrl });
    t.after(() => first.stop());

    const email = uniqueAddress('accepted');
    const created = await action(first.url, 'create', { body: { email } });
    assert.equal(created.status, 200);

    // Stop as soon as the SMTP server has the message: the worker may not have recorded it as sent yet,
    // and a graceful stop must wait for that.
    await smtp.waitFor(email);
    await first.stop();

    const [row] = await outboxRows(first.dataDir);
    assert.ok(row, 'the message is in the outbox');
    assert.notEqual(row.sent_at, null, 'the stop waited until the message was recorded as sent');
    assert.equal(row.attempts, 1);

    const second = await startTestServer({ DATA_DIR: first.dataDir, SMTP_URL: smtpUrl });
    t.after(() => second.stop());
    await sleep(SETTLE_MS);

    assert.equal(smtp.to(email).length, 1);
    assert.equal((await outboxRows(first.dataDir))[0]?.attempts, 1, 'the restarted worker never claimed the message');
  });

  test('stop right after create delivers once', async (t) => {
    const first = await startTestServer({ SMTP_URL: smtpUrl });
    t.after(() => first.stop());

    const email = uniqueAddress('stop-at-once');
    const created = await action(first.url, 'create', { body: { email } });
    assert.equal(created.status, 200);
    await first.stop();

    const second = await startTestServer({ DATA_DIR: first.dataDir, SMTP_URL: smtpUrl });
    t.after(() => second.stop());

    await assertEachArrivesOnce(smtp, [email]);
    await assertAllSent(first.dataDir, 1);
  });
});

/** Signs up every address, then waits until the delivery of each confirmation mail has failed once. */
async function signUpUntilEachAttemptFailed(server: TestServer, emails: string[]): Promise<void> {
  for (const email of emails) {
    const created = await action(server.url, 'create', { body: { email } });
    assert.equal(created.status, 200);
  }

  await waitUntil(async () => {
    const rows = await outboxRows(server.dataDir);
    return rows.length === emails.length && rows.every((row) => row.attempts >= 1 && row.last_error !== null);
  }, 'the first delivery attempt of every message failed');
}

async function assertEachArrivesOnce(smtp: SmtpSink, emails: string[]): Promise<void> {
  for (const email of emails) {
    await smtp.waitFor(email, 1, REDELIVERY_TIMEOUT_MS);
  }
  await sleep(SETTLE_MS);

  for (const email of emails) {
    assert.equal(smtp.to(email).length, 1, `exactly one message to ${email}`);
  }
}

async function assertAllSent(dataDir: string, expectedCount: number): Promise<void> {
  const rows = await outboxRows(dataDir);
  assert.equal(rows.length, expectedCount);
  for (const row of rows) {
    assert.notEqual(row.sent_at, null, `message ${row.id} has sent_at`);
    assert.equal(row.failed_at, null, `message ${row.id} has no failed_at`);
  }
}

async function assertMessageIdsMatch(smtp: SmtpSink, emails: string[], dataDir: string): Promise<void> {
  const received = emails.flatMap((email) => smtp.to(email).map((mail) => mail.messageId)).sort();
  const queued = (await outboxRows(dataDir))
    .map((row) => row.message_id)
    .sort();
  assert.deepEqual(received, queued, 'each received message is one queued before the restart');
}
