import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { activeAccount } from './helpers/accounts.js';
import { action } from './helpers/client.js';
import { waitUntil } from './helpers/outbox.js';
import { errorLogLines, type ServerProcess, startServerProcess } from './helpers/server-process.js';
import { BULK_SIGN_UPS, tempDataDir } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, ensureDatabase } from './helpers/store.js';

/** Returns the process ids of the log lines that announce a started server. */
function startedPids(server: ServerProcess): number[] {
  return server.logLines
    .map((line) => JSON.parse(line) as { msg?: string; pid?: number })
    .filter((entry) => entry.msg === 'sigma-accounts started')
    .map((entry) => entry.pid ?? -1);
}

describe('WORKERS=2', () => {
  let smtp: SmtpSink;
  let server: ServerProcess;

  before(async () => {
    smtp = new SmtpSink();
    const dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    server = await startServerProcess({
      ...BULK_SIGN_UPS,
      WORKERS: '2',
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrlFor(dataDir),
      SMTP_URL: await smtp.start(),
      MAIL_POLL_MS: '50',
    });
  });

  after(async () => {
    if (server.running()) await server.stop();
    await smtp.stop();
  });

  test('two workers serve one port', async () => {
    await waitUntil(() => startedPids(server).length === 2, 'both workers started');
    const pids = startedPids(server);
    assert.equal(new Set(pids).size, 2);
    assert.ok(!pids.includes(server.pid), 'the workers are processes of their own');

    // Sessions live in the store, so a login on one worker counts on the other.
    const account = await activeAccount(server.url, smtp);
    const checks = await Promise.all(Array.from({ length: 20 }, () => action(server.url, 'check_login', { cookies: account.cookies })));
    assert.deepEqual([...new Set(checks.map((response) => response.status))], [200]);
  });

  test('a worker that dies is replaced', async () => {
    const [victim = -1] = startedPids(server);
    // process.kill(0) would signal this test's own process group.
    assert.ok(victim > 0, 'the log names the worker pid');
    process.kill(victim, 'SIGKILL');

    await waitUntil(() => startedPids(server).length === 3, 'a new worker started', 15_000);
    const account = await activeAccount(server.url, smtp);
    const checks = await Promise.all(Array.from({ length: 10 }, () => action(server.url, 'check_login', { cookies: account.cookies })));
    assert.deepEqual([...new Set(checks.map((response) => response.status))], [200]);
  });

  test('SIGTERM stops every worker', async () => {
    const pids = startedPids(server).slice(-2);
    await server.stop();
    const { code } = await server.exited;
    assert.equal(code, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
    const errors = errorLogLines(server.logLines).filter((line) => !line.includes('a worker exited'));
    assert.deepEqual(errors, []);
  });
});
