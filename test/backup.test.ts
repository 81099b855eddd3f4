import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import Database from 'better-sqlite3';

import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, request } from './helpers/client.js';
import { BULK_SIGN_UPS, startTestServer, tempDataDir, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, testStore } from './helpers/store.js';

const run = promisify(execFile);

// A backup that does not finish, such as one that SQLite restarts at every write, fails the test instead of hanging it.
const CLI_TIMEOUT_MS = 60_000;

// Rows of random bytes added to the database before the backup, so that the copy takes long enough for
// sign-ups to land while it runs: 48 MiB in all.
const FILLER_ROWS = 48;
const FILLER_ROW_BYTES = 1024 * 1024;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js ARGS` with `settings` on top of the test's environment. */
async function cli(settings: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const env = { ...process.env, LOG_LEVEL: 'warn', ...settings };
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/main.js', ...args], { env, timeout: CLI_TIMEOUT_MS });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number | null; signal: string | null; stdout: string; stderr: string };
    return { code: failed.code ?? -1, stdout: failed.stdout, stderr: `${failed.stderr}${failed.signal ? `(ended by ${failed.signal})` : ''}` };
  }
}

function basicAuthorization(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
}

describe('backup command', () => {
  test('help describes --to', async () => {
    const result = await cli({}, 'backup', '--help');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: sigma-accounts backup --to FILE/);
    assert.match(result.stdout, /pg_dump/);

    const listed = await cli({}, '--help');
    assert.match(listed.stdout, /^\s+backup\s+/m);
  });

  test('missing --to exits 2', async () => {
    const folder = tempDataDir();
    const result = await cli({ DATA_DIR: folder }, 'backup');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^sigma-accounts: missing --to FILE/);
    fs.rmSync(folder, { recursive: true, force: true });
  });

  test('PostgreSQL is refused with pg_dump', async () => {
    const folder = tempDataDir();
    const target = path.join(folder, 'copy.sqlite');
    const secret = 'not-for-output';

    const result = await cli({ DATA_DIR: folder, DATABASE_URL: `postgres://backup:${secret}@127.0.0.1:5432/sigma` }, 'backup', '--to', target);

    assert.equal(result.code, 2);
    assert.match(result.stderr, /^sigma-accounts: backup copies SQLite databases only/);
    assert.match(result.stderr, /pg_dump/);
    assert.doesNotMatch(result.stderr + result.stdout, new RegExp(secret));
    assert.equal(fs.existsSync(target), false);
    fs.rmSync(folder, { recursive: true, force: true });
  });

  const skip = testStore() === 'postgres' ? 'backup copies SQLite files; on PostgreSQL only the refusal above applies' : false;

  describe('on a running SQLite server', { skip }, () => {
    let smtp: SmtpSink;
    let server: TestServer;
    const folders: string[] = [];

    /** Settings that point the command line at the running server's database. */
    const serverSettings = () => ({ DATA_DIR: server.dataDir, DATABASE_URL: databaseUrlFor(server.dataDir) });

    before(async () => {
      smtp = new SmtpSink();
      server = await startTestServer({ SMTP_URL: await smtp.start(), ...BULK_SIGN_UPS, LOG_LEVEL: 'warn' });
    });

    after(async () => {
      await server.stop();
      await smtp.stop();
      for (const folder of [server.dataDir, ...folders]) fs.rmSync(folder, { recursive: true, force: true });
    });

    test('copy taken during sign-ups serves', async (t) => {
      const active = [await activeAccount(server.url, smtp, uniqueAddress('backup')), await activeAccount(server.url, smtp, uniqueAddress('backup'))];
      const pendingBefore: string[] = [];
      for (let index = 0; index < 5; index += 1) {
        const created = await action(server.url, 'create', { body: { email: uniqueAddress('backup-pending') } });
        assert.equal(created.status, 200, created.text);
        pendingBefore.push((created.body as { uuid: string }).uuid);
      }

      const source = databaseUrlFor(server.dataDir).slice('sqlite:'.length);
      const filler = new Database(source, { timeout: 5000 });
      filler.exec('CREATE TABLE backup_test_filler (data BLOB NOT NULL)');
      const insert = filler.prepare('INSERT INTO backup_test_filler (data) VALUES (randomblob(?))');
      for (let row = 0; row < FILLER_ROWS; row += 1) insert.run(FILLER_ROW_BYTES);
      filler.close();

      const copyFolder = tempDataDir();
      folders.push(copyFolder);
      const target = path.join(copyFolder, 'sigma-accounts.sqlite');

      // Sign-ups run without pause from before the command starts until it exits.
      let backupRunning = true;
      const createdDuringBackup: string[] = [];
      const signUps = (async () => {
        while (backupRunning) {
          const created = await action(server.url, 'create', { body: { email: uniqueAddress('backup-during') } });
          assert.equal(created.status, 200, created.text);
          if (backupRunning) createdDuringBackup.push((created.body as { uuid: string }).uuid);
        }
      })();
      const backup = await cli(serverSettings(), 'backup', '--to', target, '--json');
      backupRunning = false;
      await signUps;

      assert.equal(backup.code, 0, backup.stderr);
      const report = JSON.parse(backup.stdout) as { file: string; source: string; bytes: number; pages: number; integrityCheck: string };
      assert.equal(report.file, target);
      assert.equal(report.integrityCheck, 'ok');
      assert.equal(report.source, source);
      assert.equal(report.bytes, fs.statSync(target).size);
      assert.ok(report.bytes > FILLER_ROWS * FILLER_ROW_BYTES, `copy of ${report.bytes} bytes holds the filler`);
      assert.ok(createdDuringBackup.length > 0, 'sign-ups completed while the backup ran');
      assert.equal(fs.statSync(target).mode & 0o777, 0o600);
      assert.deepEqual(fs.readdirSync(copyFolder), ['sigma-accounts.sqlite'], 'no partial or journal files left');

      const copy = new Database(target, { readonly: true });
      t.after(() => copy.close());
      assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
      const uuids = new Set((copy.prepare('SELECT uuid FROM accounts').all() as Array<{ uuid: string }>).map((row) => row.uuid));
      for (const uuid of [...active.map((account) => account.uuid), ...pendingBefore]) {
        assert.ok(uuids.has(uuid), `account ${uuid}, created before the backup, is in the copy`);
      }

      const verified = await cli({ DATA_DIR: copyFolder, DATABASE_URL: `sqlite:${target}` }, 'audit', 'verify', '--json');
      assert.equal(verified.code, 0, `audit chain of the copy: ${verified.stdout}${verified.stderr}`);

      const restored = await startTestServer({ DATA_DIR: copyFolder, DATABASE_URL: `sqlite:${target}`, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, LOG_LEVEL: 'warn' });
      t.after(() => restored.stop());
      for (const account of active) {
        const profile = await request(`${restored.url}/api/2.0/profile/`, {
          method: 'GET',
          headers: { Authorization: basicAuthorization(account.email, PASSWORD) },
        });
        assert.equal(profile.status, 200, profile.text);
        assert.equal((profile.body as { uuid: string }).uuid, account.uuid);
        assert.equal((profile.body as { email: string }).email, account.email);
      }
    });

    test('existing file is never replaced', async () => {
      const folder = tempDataDir();
      folders.push(folder);
      const target = path.join(folder, 'existing.sqlite');
      fs.writeFileSync(target, 'keep me');

      const result = await cli(serverSettings(), 'backup', '--to', target);

      assert.equal(result.code, 1);
      assert.match(result.stderr, /^sigma-accounts: .*existing\.sqlite already exists/);
      assert.equal(fs.readFileSync(target, 'utf8'), 'keep me');
      assert.deepEqual(fs.readdirSync(folder), ['existing.sqlite']);
    });

    test('text output names the file', async () => {
      const folder = tempDataDir();
      folders.push(folder);
      const target = path.join(folder, 'copy.sqlite');

      const result = await cli(serverSettings(), 'backup', '--to', target);

      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^written to:\\s+${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      assert.match(result.stdout, /^integrity check:\s+ok$/m);
    });

    test('missing folder is refused', async () => {
      const folder = tempDataDir();
      folders.push(folder);
      const result = await cli(serverSettings(), 'backup', '--to', path.join(folder, 'no-such-folder', 'copy.sqlite'));
      assert.equal(result.code, 1);
      assert.match(result.stderr, /no-such-folder does not exist/);
    });

    test('unwritable folder is refused', async () => {
      // /sys takes no new files, even from root, which the tests may run as.
      const result = await cli(serverSettings(), 'backup', '--to', '/sys/copy.sqlite');
      assert.equal(result.code, 1);
      assert.match(result.stderr, /cannot create a file in \/sys \(E[A-Z]+\); choose a folder this user can write to/);
      assert.doesNotMatch(result.stderr, /partial/);
    });
  });
});
