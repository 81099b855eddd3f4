import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, sqlRows } from './helpers/store.js';

const run = promisify(execFile);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('operator command line', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  /** Runs `node dist/main.js ARGS` against the test server's database. */
  async function cli(...args: string[]): Promise<CliResult> {
    const env = { ...process.env, DATA_DIR: server.dataDir, DATABASE_URL: databaseUrlFor(server.dataDir), LOG_LEVEL: 'warn' };
    try {
      const { stdout, stderr } = await run(process.execPath, ['dist/main.js', ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start() });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('help lists every command', async () => {
    const result = await cli('--help');
    assert.equal(result.code, 0);
    for (const name of ['serve', 'migrate', 'accounts list', 'accounts delete', 'promo create', 'sessions end', 'mail retry', 'hash calibrate']) {
      assert.match(result.stdout, new RegExp(name), name);
    }
  });

  test('every command has help', async () => {
    const commands = [
      ['accounts', 'list'], ['accounts', 'show'], ['accounts', 'disable'], ['accounts', 'enable'], ['accounts', 'delete'],
      ['accounts', 'set-state'], ['promo', 'create'], ['promo', 'list'], ['promo', 'disable'], ['sessions', 'end'],
      ['mail', 'list'], ['mail', 'retry'], ['hash', 'calibrate'], ['serve'], ['migrate'],
    ];
    for (const command of commands) {
      const result = await cli(...command, '--help');
      assert.equal(result.code, 0, command.join(' '));
      assert.match(result.stdout, /^Usage: sigma-accounts /, command.join(' '));
    }
  });

  test('wrong calls exit 2 with one line', async () => {
    for (const args of [['accounts', 'list', '--bogus'], ['accounts', 'show'], ['frobnicate'], ['accounts', 'frobnicate'], ['promo', 'create', 'bad code!']]) {
      const result = await cli(...args);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stderr.trim().split('\n')[0]?.startsWith('sigma-accounts: '), true, args.join(' '));
    }
  });

  test('accounts list and show', async () => {
    const account = await activeAccount(server.url, smtp);

    const listed = await cli('accounts', 'list', '--json', '--limit', '1000');
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Array<{ uuid: string; state: string; email: string }>;
    assert.ok(rows.some((row) => row.uuid === account.uuid && row.state === 'active'));

    const table = await cli('accounts', 'list', '--state', 'active');
    assert.match(table.stdout, /^UUID\s+EMAIL\s+STATE/);
    assert.match(table.stdout, new RegExp(account.uuid));

    const byEmail = await cli('accounts', 'show', account.email, '--json');
    assert.equal((JSON.parse(byEmail.stdout) as { uuid: string }).uuid, account.uuid);
    const byUuid = await cli('accounts', 'show', account.uuid);
    assert.match(byUuid.stdout, /state:\s+active/);

    const missing = await cli('accounts', 'show', 'nobody@example.com');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no account/);
  });

  test('disable ends sessions, enable restores', async () => {
    const account = await activeAccount(server.url, smtp);

    const disabled = await cli('accounts', 'disable', account.email, '--json');
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal((JSON.parse(disabled.stdout) as { state: string }).state, 'disabled');
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 401);
    assert.equal((await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } })).status, 401);

    const enabled = await cli('accounts', 'enable', account.uuid);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.equal((await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } })).status, 200);
  });

  test('set-state changes the profile state', async () => {
    const account = await activeAccount(server.url, smtp);
    const result = await cli('accounts', 'set-state', account.email, 'regular');
    assert.equal(result.code, 0, result.stderr);

    const [row] = await sqlRows<{ profile_state: string }>(server.dataDir, 'SELECT profile_state FROM accounts WHERE uuid = ?', [account.uuid]);
    assert.equal(row?.profile_state, 'REGULAR');

    const wrong = await cli('accounts', 'set-state', account.email, 'EMPEROR');
    assert.equal(wrong.code, 2);
  });

  test('sessions end logs out everywhere', async () => {
    const account = await activeAccount(server.url, smtp);
    await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });

    const result = await cli('sessions', 'end', account.email, '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { sessionsEnded: number }).sessionsEnded, 2);
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 401);
  });

  test('accounts delete leaves a tombstone', async () => {
    const account = await activeAccount(server.url, smtp);
    const result = await cli('accounts', 'delete', account.email, '--json');
    assert.equal(result.code, 0, result.stderr);

    const [row] = await sqlRows<{ state: string; email: string }>(server.dataDir, 'SELECT state, email FROM accounts WHERE uuid = ?', [account.uuid]);
    assert.equal(row?.state, 'deleted');
    assert.notEqual(row?.email, account.email);
    assert.equal((await action(server.url, 'check_login', { cookies: account.cookies })).status, 401);
  });

  test('promo create, list and disable', async () => {
    const code = `CLI${Date.now()}`;
    const created = await cli('promo', 'create', code.toLowerCase(), '--max-uses', '3', '--grants', 'TRIAL', '--expires', '2099-01-01T00:00:00Z', '--json');
    assert.equal(created.code, 0, created.stderr);
    const promo = JSON.parse(created.stdout) as { code: string; maxUses: number; grantsState: string; expiresAt: number };
    assert.equal(promo.code, code);
    assert.equal(promo.maxUses, 3);
    assert.equal(promo.grantsState, 'TRIAL');
    assert.equal(promo.expiresAt, Date.parse('2099-01-01T00:00:00Z'));

    const again = await cli('promo', 'create', code);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);

    const listed = await cli('promo', 'list');
    assert.match(listed.stdout, new RegExp(`${code}\\s+TRIAL\\s+0/3`));

    const disabled = await cli('promo', 'disable', code, '--json');
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.ok((JSON.parse(disabled.stdout) as { disabledAt: number | null }).disabledAt);

    const badDate = await cli('promo', 'create', `${code}X`, '--expires', 'tomorrow');
    assert.equal(badDate.code, 2);
  });

  test('mail list and retry', async () => {
    const email = uniqueAddress('cli-mail');
    await action(server.url, 'create', { body: { email } });
    await smtp.waitFor(email);

    const listed = await cli('mail', 'list', '--status', 'sent', '--json', '--limit', '500');
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Array<{ id: string; recipient: string; sentAt: number | null }>;
    const sent = rows.find((row) => row.recipient === email);
    assert.ok(sent?.sentAt);

    const sentRetry = await cli('mail', 'retry', sent.id);
    assert.equal(sentRetry.code, 1, 'a sent message is not sent again');

    await sqlRows(server.dataDir, 'UPDATE outbox SET sent_at = NULL, failed_at = ?, attempts = 8 WHERE id = ?', [Date.now(), sent.id]);
    const failed = await cli('mail', 'list', '--status', 'failed');
    assert.match(failed.stdout, new RegExp(sent.id));

    const retried = await cli('mail', 'retry', sent.id);
    assert.equal(retried.code, 0, retried.stderr);
    await smtp.waitFor(email, 2);
  });

  test('hash calibrate prints settings', async () => {
    const result = await cli('hash', 'calibrate', '--target-ms', '30', '--max-memory-mib', '32', '--json');
    assert.equal(result.code, 0, result.stderr);
    const settings = JSON.parse(result.stdout) as { memoryKib: number; timeCost: number; parallelism: number };
    assert.ok(settings.memoryKib >= 19456);
    assert.ok(settings.memoryKib <= 32768);
    assert.ok(settings.timeCost >= 2);
    assert.equal(settings.parallelism, 1);

    const text = await cli('hash', 'calibrate', '--target-ms', '30', '--max-memory-mib', '19');
    assert.match(text.stdout, /^HASH_MEMORY_KIB=19456$/m);
  });
});
