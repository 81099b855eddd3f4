import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { activeAccount } from './helpers/accounts.js';
import { request } from './helpers/client.js';
import { type ServerProcess, startServerProcess } from './helpers/server-process.js';
import { tempDataDir } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { testStore } from './helpers/store.js';

// Two processes on one SQLite file, as with WORKERS=2 or the command line beside a server, write through
// one lock. A transaction that read first and then found the file changed by the other process could not
// wait for that lock and failed at once with a 503; these requests must wait their turn instead.

const PARALLEL_WRITES = 80;

const skip = testStore() === 'sqlite' ? false : 'two processes on one SQLite file; PostgreSQL has row locks instead';

describe('two processes writing one SQLite file', { skip }, () => {
  let smtp: SmtpSink;
  let first: ServerProcess;
  let second: ServerProcess;

  before(async () => {
    smtp = new SmtpSink();
    const dataDir = tempDataDir();
    const settings = { SMTP_URL: await smtp.start(), DATA_DIR: dataDir, THROTTLE: 'off', LOG_LEVEL: 'warn' };
    first = await startServerProcess(settings);
    second = await startServerProcess(settings);
  });

  after(async () => {
    await second.kill();
    await first.stop();
    await smtp.stop();
  });

  test('parallel transactions all succeed', async () => {
    const account = await activeAccount(first.url, smtp);
    const cookies = account.cookies;
    const headers = { 'X-CSRFToken': cookies.csrftoken ?? '' };

    const writes = await Promise.all(
      Array.from({ length: PARALLEL_WRITES }, (_, index) =>
        request(`${(index % 2 === 0 ? first : second).url}/api/2.0/profile/`, { method: 'PUT', cookies, headers, body: { first_name: `writer ${index}` } }),
      ),
    );

    const statuses = writes.map((write) => write.status);
    assert.deepEqual(statuses.filter((status) => status !== 200), [], writes.find((write) => write.status !== 200)?.text);
  });
});
