import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { activeAccount, PASSWORD } from './helpers/accounts.js';
import { action, errorList, request } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';

const PROFILE_PATH = '/api/2.0/profile/';
const NEW_PASSWORD = 'a quite different passphrase';

function basic(email: string, password = PASSWORD): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}` };
}

describe('password hashing under load', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start(), HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '2' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  /** Sends a Basic GET of the profile and returns its status and how many password verifications it cost. */
  async function basicCounted(baseUrl: string, hasher: TestServer['hasher'], email: string, password = PASSWORD) {
    const before = hasher.verifications;
    const response = await request(`${baseUrl}${PROFILE_PATH}`, { method: 'GET', headers: basic(email, password) });
    return { status: response.status, verifications: hasher.verifications - before };
  }

  test('full hash queue sheds with 503', async () => {
    const account = await activeAccount(server.url, smtp);
    const logins = await Promise.all(
      Array.from({ length: 8 }, () => action(server.url, 'login', { body: { username: account.email, password: PASSWORD } })),
    );
    const statuses = logins.map((response) => response.status);

    // One hash runs and two wait; the rest are shed at once rather than queued behind them.
    assert.ok(statuses.filter((status) => status === 200).length >= 3, statuses.join(','));
    const shed = logins.filter((response) => response.status === 503);
    assert.ok(shed.length >= 1, statuses.join(','));
    assert.deepEqual([...new Set(statuses)].sort(), [200, 503]);
    for (const response of shed) {
      assert.equal(response.headers.get('retry-after'), '1');
      assert.equal(errorList(response)[0]?.error_type, 'backend');
      assert.match(errorList(response)[0]?.error_message ?? '', /busy checking other passwords/);
    }

    // Once the burst is over, logins work again.
    assert.equal((await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } })).status, 200);
  });

  test('repeated Basic credential is not hashed again', async () => {
    const account = await activeAccount(server.url, smtp);
    const first = await basicCounted(server.url, server.hasher, account.email);
    assert.equal(first.status, 200);
    assert.equal(first.verifications, 1);

    const second = await basicCounted(server.url, server.hasher, account.email);
    assert.equal(second.status, 200);
    assert.equal(second.verifications, 0);

    // A wrong password is hashed every time, and never remembered.
    const wrong = await basicCounted(server.url, server.hasher, account.email, 'not the password');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.verifications, 1);
    const wrongAgain = await basicCounted(server.url, server.hasher, account.email, 'not the password');
    assert.equal(wrongAgain.verifications, 1);

    // end_others drops the remembered credential from the cache.
    const ended = await request(`${server.url}/api/2.0/accounts/sessions/action/?do=end_others`, { body: {}, headers: basic(account.email) });
    assert.equal(ended.status, 200, ended.text);
    assert.equal((await basicCounted(server.url, server.hasher, account.email)).verifications, 1);
  });

  test('cached credential fails after password change on another node', async () => {
    const account = await activeAccount(server.url, smtp);
    const other = await startTestServer({ DATA_DIR: server.dataDir, SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
    try {
      assert.equal((await basicCounted(server.url, server.hasher, account.email)).status, 200);
      assert.equal((await basicCounted(server.url, server.hasher, account.email)).verifications, 0);

      const changed = await action(other.url, 'change_password', { body: { old_password: PASSWORD, new_password: NEW_PASSWORD }, headers: basic(account.email) });
      assert.equal(changed.status, 200, changed.text);

      const stale = await basicCounted(server.url, server.hasher, account.email);
      assert.equal(stale.status, 401);
      assert.equal(stale.verifications, 1, 'the old password is checked against the new hash');
      assert.equal((await basicCounted(server.url, server.hasher, account.email, NEW_PASSWORD)).status, 200);
    } finally {
      await other.stop();
    }
  });

  test('cached credential fails once account is disabled', async () => {
    const account = await activeAccount(server.url, smtp);
    assert.equal((await basicCounted(server.url, server.hasher, account.email)).status, 200);
    await sqlRows(server.dataDir, "update accounts set state = 'disabled' where uuid = ?", [account.uuid]);
    assert.equal((await basicCounted(server.url, server.hasher, account.email)).status, 401);
  });

  test('BASIC_CACHE_SECONDS=0 hashes every request', async () => {
    const uncached = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, BASIC_CACHE_SECONDS: '0' });
    try {
      const account = await activeAccount(uncached.url, smtp);
      assert.equal((await basicCounted(uncached.url, uncached.hasher, account.email)).verifications, 1);
      assert.equal((await basicCounted(uncached.url, uncached.hasher, account.email)).verifications, 1);
    } finally {
      await uncached.stop();
    }
  });
});
