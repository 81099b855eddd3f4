import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, errorList } from './helpers/client.js';
import { BULK_SIGN_UPS, startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { countRows, sqlRows } from './helpers/store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// Long enough for the mail worker, which polls every 50 ms in tests, to deliver anything still queued.
const MAIL_SETTLE_MS = 500;

/** `address` with the case of its letters set by the bits of `variant`, so that variants 0 to 31 differ. */
function caseVariant(address: string, variant: number): string {
  let letterIndex = 0;
  return [...address]
    .map((character) => {
      if (!/[a-z]/i.test(character)) return character;
      const upper = ((variant >> (letterIndex % 5)) & 1) === 1;
      letterIndex += 1;
      return upper ? character.toUpperCase() : character.toLowerCase();
    })
    .join('');
}

/** Log lines at pino's error level (50) or above. */
function errorLogLines(server: TestServer): string[] {
  return server.logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
}

function outboxCount(server: TestServer, address: string): Promise<number> {
  return countRows(server.dataDir, 'SELECT count(*) FROM outbox WHERE lower(recipient) = ?', address.toLowerCase());
}

describe('concurrent account requests', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ ...BULK_SIGN_UPS, SMTP_URL: smtpUrl });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('parallel creates make one account', async () => {
    const address = uniqueAddress('race-create');
    const variants = Array.from({ length: 20 }, (_, variant) => caseVariant(address, variant));
    assert.equal(new Set(variants).size, 20, 'twenty different spellings');

    const responses = await Promise.all(variants.map((email) => action(server.url, 'create', { body: { email } })));

    for (const [index, response] of responses.entries()) {
      assert.equal(response.status, 200, `create ${variants[index]}: ${response.status} ${response.text}`);
      const body = response.body as { success: boolean; uuid: string };
      assert.equal(body.success, true, `create ${variants[index]} succeeds`);
      assert.match(body.uuid, UUID, `create ${variants[index]} returns a uuid`);
    }

    const accounts = await sqlRows<{ uuid: string; state: string }>(
      server.dataDir,
      'SELECT uuid, state FROM accounts WHERE email_key = ?',
      [address.toLowerCase()],
    );
    assert.equal(accounts.length, 1, 'one account row');
    assert.equal(accounts[0]?.state, 'pending');

    // Every other caller gets a decoy uuid, so the responses never show which request won.
    const uuids = responses.map((response) => (response.body as { uuid: string }).uuid);
    assert.equal(new Set(uuids).size, 20, 'every response has its own uuid');
    assert.equal(uuids.filter((uuid) => uuid === accounts[0]?.uuid).length, 1, 'one response has the real uuid');

    assert.equal(await outboxCount(server, address), 1, 'one message queued');
    const [mail] = await smtp.waitFor(address);
    assert.ok(mail);
    assert.ok(confirmationLinkIn(mail), 'the message is a confirmation');
    await delay(MAIL_SETTLE_MS);
    assert.equal(smtp.to(address).length, 1, 'one message delivered');

    assert.deepEqual(errorLogLines(server), []);
  });

  test('parallel password changes: one wins', async () => {
    const account = await activeAccount(server.url, smtp);
    const basic = { Authorization: `Basic ${Buffer.from(`${account.email}:${PASSWORD}`).toString('base64')}` };
    const newPasswords = Array.from({ length: 4 }, (_, index) => `parallel change ${index} ${account.uuid}`);

    const changes = await Promise.all(
      newPasswords.map((newPassword) => action(server.url, 'change_password', { headers: basic, body: { old_password: PASSWORD, new_password: newPassword } })),
    );

    const winners = changes.flatMap((change, index) => (change.status === 200 ? [index] : []));
    assert.equal(winners.length, 1, changes.map((change) => `${change.status} ${change.text}`).join('\n'));
    for (const change of changes.filter((_, index) => !winners.includes(index))) {
      assert.equal(change.status, 400, change.text);
      assert.equal(errorList(change)[0]?.error_point, 'old_password');
    }

    const works = async (password: string) => (await action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: `Basic ${Buffer.from(`${account.email}:${password}`).toString('base64')}` } })).status;
    assert.equal(await works(newPasswords[winners[0] ?? 0] ?? ''), 200, 'the password that was reported changed works');
  });

  test('parallel confirms use token once', async () => {
    const email = uniqueAddress('race-confirm');
    const { uuid, token } = await signUp(server.url, smtp, email);
    const passwords = Array.from({ length: 10 }, (_, index) => `${PASSWORD} ${index}`);

    const responses = await Promise.all(passwords.map((password) => action(server.url, 'confirm', { body: { token, password } })));

    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 200).length, 1, `one success among ${statuses.join(', ')}`);
    assert.equal(statuses.filter((status) => status === 400).length, 9, `nine rejections among ${statuses.join(', ')}`);

    for (const response of responses.filter((candidate) => candidate.status === 400)) {
      const entries = errorList(response);
      assert.equal(entries.length, 1, response.text);
      assert.equal(entries[0]?.error_type, 'validation');
      assert.equal(entries[0]?.error_point, 'token');
    }

    const winner = responses.findIndex((response) => response.status === 200);
    assert.deepEqual(responses[winner]?.body, { uuid });
    assert.ok(responses[winner]?.cookies.sessionid?.value, 'the winner is logged in');
    for (const response of responses.filter((candidate) => candidate.status !== 200)) {
      assert.equal(response.cookies.sessionid, undefined, 'a rejected confirm sets no session cookie');
    }
    assert.equal(await countRows(server.dataDir, 'SELECT count(*) FROM sessions WHERE account_uuid = ?', uuid), 1, 'one session row');

    const winnerPassword = passwords[winner] ?? '';
    const loserPassword = passwords[(winner + 1) % passwords.length] ?? '';
    const login = await action(server.url, 'login', { body: { username: email, password: winnerPassword } });
    assert.equal(login.status, 200, 'the winning password is set');
    const loserLogin = await action(server.url, 'login', { body: { username: email, password: loserPassword } });
    assert.equal(loserLogin.status, 401, 'a rejected password is not set');

    assert.deepEqual(errorLogLines(server), []);
  });

  test('second create within minute sends nothing', async () => {
    const email = uniqueAddress('throttled');
    const { token } = await signUp(server.url, smtp, email);

    const again = await action(server.url, 'create', { body: { email } });
    assert.equal(again.status, 200, again.text);
    assert.equal((again.body as { success: boolean }).success, true);

    assert.equal(await outboxCount(server, email), 1, 'no second message queued');
    await delay(MAIL_SETTLE_MS);
    assert.equal(smtp.to(email).length, 1, 'no second message delivered');

    const confirmed = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });
    assert.equal(confirmed.status, 200, 'the first link still works');
  });

  test('zero throttle mails fresh link', async () => {
    const unthrottled = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_THROTTLE_SECONDS: '0' });
    try {
      const email = uniqueAddress('unthrottled');
      const first = await signUp(unthrottled.url, smtp, email);

      const again = await action(unthrottled.url, 'create', { body: { email } });
      assert.equal(again.status, 200, again.text);
      assert.equal((again.body as { success: boolean }).success, true);

      const mails = await smtp.waitFor(email, 2);
      assert.equal(mails.length, 2);
      const secondMail = mails[1];
      assert.ok(secondMail);
      const secondToken = tokenOf(confirmationLinkIn(secondMail));
      assert.notEqual(secondToken, first.token, 'the second link has a new token');

      const confirmed = await action(unthrottled.url, 'confirm', { body: { token: secondToken, password: PASSWORD } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assert.deepEqual(confirmed.body, { uuid: first.uuid });

      const login = await action(unthrottled.url, 'login', { body: { username: email, password: PASSWORD } });
      assert.equal(login.status, 200, login.text);

      // Setting the password ends every other outstanding token, the first link's included.
      const stale = await action(unthrottled.url, 'confirm', { body: { token: first.token, password: `${PASSWORD} again` } });
      assert.equal(stale.status, 400);
      assert.equal(errorList(stale)[0]?.error_point, 'token');

      assert.deepEqual(errorLogLines(unthrottled), []);
    } finally {
      await unthrottled.stop();
    }
  });
});
