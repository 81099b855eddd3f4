import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { activeAccount, uniqueAddress } from './helpers/accounts.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const run = promisify(execFile);

const PYTHON = '/usr/bin/python3';
const CLIENT_SCRIPT = fileURLToPath(new URL('./clients/cloudsigma_style_client.py', import.meta.url));
const PASSWORD = 'Pýthon-Clïent-Pass-2024';
const NEW_COMPANY = 'Python Client Company';

interface Exchange {
  status: number;
  body: unknown;
}

interface ClientResults {
  login: Exchange;
  csrftoken_received: boolean;
  csrftoken_in_session: boolean;
  get_before: Exchange;
  put: Exchange;
  get_after: Exchange;
  put_without_csrf_token: Exchange;
}

/** Returns why the client script cannot run here, or null when Debian's python3-requests is importable. */
async function pythonRequestsProblem(): Promise<string | null> {
  try {
    await run(PYTHON, ['-c', 'import requests'], { timeout: 30_000 });
    return null;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return `${PYTHON} cannot import requests (install python3-requests): ${detail}`;
  }
}

const problem = await pythonRequestsProblem();
// On CI a missing interpreter or library is a failure, never a silent skip.
const skip = problem !== null && !process.env.CI ? problem : false;

describe('CloudSigma-style Python client', { skip }, () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start() });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('session login, CSRF header and profile update', async () => {
    assert.equal(problem, null, problem ?? '');
    const account = await activeAccount(server.url, smtp, uniqueAddress('python'), PASSWORD);

    const { stdout, stderr } = await run(PYTHON, [CLIENT_SCRIPT, server.url, account.email, PASSWORD], {
      timeout: 60_000,
      env: { ...process.env, PYTHONIOENCODING: 'utf-8', PYTHONDONTWRITEBYTECODE: '1' },
    });
    // stderr may carry library warnings, so it is only shown when the output is not the expected JSON.
    let results: ClientResults;
    try {
      results = JSON.parse(stdout) as ClientResults;
    } catch {
      assert.fail(`the client printed no JSON. stdout: ${stdout.slice(0, 500)} stderr: ${stderr.slice(0, 500)}`);
    }

    assert.equal(results.login.status, 200, JSON.stringify(results.login));
    assert.deepEqual(results.login.body, { uuid: account.uuid });
    assert.equal(results.csrftoken_received, true);
    assert.equal(results.csrftoken_in_session, true);

    assert.equal(results.get_before.status, 200, JSON.stringify(results.get_before));
    const before = results.get_before.body as Record<string, unknown>;
    assert.equal(before.uuid, account.uuid);
    assert.equal(before.email, account.email);
    assert.equal(before.company, '');

    // The client sends back the whole profile it read, read-only fields and nulls included.
    assert.equal(results.put.status, 200, JSON.stringify(results.put));
    const updated = results.put.body as Record<string, unknown>;
    assert.equal(updated.company, NEW_COMPANY);
    assert.deepEqual({ ...updated, company: before.company }, before, 'only company changed');

    assert.equal(results.get_after.status, 200, JSON.stringify(results.get_after));
    assert.deepEqual(results.get_after.body, updated);

    assert.equal(results.put_without_csrf_token.status, 403, JSON.stringify(results.put_without_csrf_token));
    assert.equal((results.put_without_csrf_token.body as Array<{ error_type: string }>)[0]?.error_type, 'permission');
  });
});
