import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { ConfigError, loadConfig } from '../src/config.js';
import { activeAccount, PASSWORD, signUp, uniqueAddress } from './helpers/accounts.js';
import { action, errorList, errorPoints, request } from './helpers/client.js';
import { startTestServer, tempDataDir, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { sqlRows } from './helpers/store.js';

const PWNED = 'Pwned-Password-Example-1';
const PADDED = 'Padded-Password-Example-2';
const PWNED_COUNT = 42;

function sha1Hex(password: string): string {
  return createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
}

function randomSuffix(): string {
  return randomBytes(18).toString('hex').toUpperCase().slice(0, 35);
}

interface RangeRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A stand-in for the Pwned Passwords range API on 127.0.0.1: `GET /range/{5 hex digits}` returns
 * `SUFFIX:COUNT` lines with CRLF endings, with random entries and padding entries of count 0 around the
 * known ones. `mode` makes it hang or fail instead.
 */
class RangeServer {
  readonly requests: RangeRequest[] = [];
  mode: 'answer' | 'hang' | 'error' = 'answer';
  private readonly server: http.Server;
  private readonly hanging: http.ServerResponse[] = [];
  url = '';

  constructor(private readonly counts: Map<string, number>) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        this.respond(req.url ?? '', res);
      });
    });
  }

  private respond(url: string, res: http.ServerResponse): void {
    if (this.mode === 'hang') {
      this.hanging.push(res);
      return;
    }
    if (this.mode === 'error') {
      res.writeHead(503).end('unavailable');
      return;
    }

    const prefix = /^\/range\/([0-9A-F]{5})$/.exec(url)?.[1];
    if (!prefix) {
      res.writeHead(400).end('The hash prefix was not in a valid format');
      return;
    }

    const lines = Array.from({ length: 20 }, () => `${randomSuffix()}:${1 + Math.floor(Math.random() * 1000)}`);
    lines.push(...Array.from({ length: 10 }, () => `${randomSuffix()}:0`));
    for (const [hash, count] of this.counts) {
      if (hash.startsWith(prefix)) lines.splice(Math.floor(Math.random() * lines.length), 0, `${hash.slice(5)}:${count}`);
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(lines.join('\r\n'));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/range/`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function knownPasswords(): Map<string, number> {
  return new Map([
    [sha1Hex(PWNED), PWNED_COUNT],
    // Listed only as padding: a count of 0 means the service has never seen it.
    [sha1Hex(PADDED), 0],
  ]);
}

function resetTokenIn(text: string | undefined): string {
  const match = /\/accounts\/reset\/\?token=([A-Za-z0-9_-]+)/.exec(text ?? '');
  if (!match?.[1]) throw new Error(`no reset link in: ${text ?? '(no text part)'}`);
  return match[1];
}

describe('Pwned Passwords check', () => {
  let smtp: SmtpSink;
  let range: RangeServer;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    range = new RangeServer(knownPasswords());
    server = await startTestServer({ SMTP_URL: await smtp.start(), PWNED_PASSWORDS_URL: await range.start(), MAIL_THROTTLE_SECONDS: '0' });
  });

  after(async () => {
    await server.stop();
    await range.stop();
    await smtp.stop();
  });

  test('confirm rejects a pwned password', async () => {
    const { token } = await signUp(server.url, smtp, uniqueAddress('pwned-confirm'));

    const rejected = await action(server.url, 'confirm', { body: { token, password: PWNED } });
    assert.equal(rejected.status, 400);
    assert.deepEqual(errorPoints(rejected), ['password']);
    assert.match(errorList(rejected)[0]?.error_message ?? '', /appeared 42 times in known data breaches/);

    const accepted = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });
    assert.equal(accepted.status, 200, accepted.text);
  });

  test('request carries only the prefix', async () => {
    const { token } = await signUp(server.url, smtp, uniqueAddress('pwned-prefix'));
    const before = range.requests.length;

    await action(server.url, 'confirm', { body: { token, password: PWNED } });

    const sent = range.requests.slice(before);
    assert.equal(sent.length, 1);
    const hash = sha1Hex(PWNED);
    const [query] = sent;
    assert.equal(query?.method, 'GET');
    assert.equal(query?.url, `/range/${hash.slice(0, 5)}`);
    assert.equal(query?.body, '');
    assert.equal(query?.headers['add-padding'], 'true');

    const everything = `${query?.url} ${JSON.stringify(query?.headers)} ${query?.body}`.toUpperCase();
    for (const secret of [PWNED.toUpperCase(), hash, hash.slice(5)]) {
      assert.ok(!everything.includes(secret), `the request contains ${secret}`);
    }
  });

  test('padding entry is no match', async () => {
    const { token } = await signUp(server.url, smtp, uniqueAddress('pwned-padding'));

    const confirmed = await action(server.url, 'confirm', { body: { token, password: PADDED } });
    assert.equal(confirmed.status, 200, confirmed.text);
  });

  test('reset rejects a pwned password', async () => {
    const account = await activeAccount(server.url, smtp, uniqueAddress('pwned-reset'));
    await action(server.url, 'request_password_reset', { body: { email: account.email } });
    const mails = await smtp.waitFor(account.email, 2);
    const token = resetTokenIn(mails[1]?.text);

    const rejected = await action(server.url, 'reset_password', { body: { token, password: PWNED } });
    assert.equal(rejected.status, 400);
    assert.deepEqual(errorPoints(rejected), ['password']);

    const accepted = await action(server.url, 'reset_password', { body: { token, password: 'another staple horse battery' } });
    assert.equal(accepted.status, 200, accepted.text);
  });

  test('change rejects a pwned password', async () => {
    const account = await activeAccount(server.url, smtp, uniqueAddress('pwned-change'));
    const csrf = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };

    const rejected = await action(server.url, 'change_password', {
      body: { old_password: PASSWORD, new_password: PWNED },
      cookies: account.cookies,
      headers: csrf,
    });
    assert.equal(rejected.status, 400);
    assert.deepEqual(errorPoints(rejected), ['new_password']);

    const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assert.equal(login.status, 200, 'the old password still works');
  });

  test('login is not checked', async () => {
    const before = range.requests.length;
    const account = await activeAccount(server.url, smtp, uniqueAddress('pwned-login'));
    const afterConfirm = range.requests.length;

    const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assert.equal(login.status, 200);
    assert.equal(afterConfirm - before, 1);
    assert.equal(range.requests.length, afterConfirm);
  });
});

describe('Pwned Passwords unavailable', () => {
  let smtp: SmtpSink;
  let range: RangeServer;

  before(async () => {
    smtp = new SmtpSink();
    await smtp.start();
    range = new RangeServer(knownPasswords());
    await range.start();
  });

  after(async () => {
    await range.stop();
    await smtp.stop();
  });

  async function withServer(settings: Record<string, string>, work: (server: TestServer) => Promise<void>): Promise<void> {
    const server = await startTestServer({
      SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      PWNED_PASSWORDS_URL: range.url,
      PWNED_PASSWORDS_TIMEOUT_MS: '300',
      ...settings,
    });
    try {
      await work(server);
    } finally {
      await server.stop();
    }
  }

  test('no answer fails open by default', async () => {
    range.mode = 'hang';
    await withServer({}, async (server) => {
      const { token } = await signUp(server.url, smtp, uniqueAddress('fail-open'));
      const started = Date.now();

      const confirmed = await action(server.url, 'confirm', { body: { token, password: PWNED } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assert.ok(Date.now() - started >= 300, 'confirm waited for the timeout');
      assert.ok(
        server.logLines.some((line) => line.includes('Pwned Passwords check failed') && line.includes('timed out after 300 ms')),
        'a warning names the timeout',
      );
    });
  });

  test('no answer fails closed when set', async () => {
    await withServer({ PWNED_PASSWORDS_FAIL: 'closed' }, async (server) => {
      const { token } = await signUp(server.url, smtp, uniqueAddress('fail-closed'));

      for (const mode of ['hang', 'error'] as const) {
        range.mode = mode;
        const refused = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });

        assert.equal(refused.status, 503, `${mode}: ${refused.text}`);
        assert.equal(errorList(refused)[0]?.error_type, 'backend');
        assert.ok(refused.headers.get('retry-after'), mode);
      }

      range.mode = 'answer';
      const confirmed = await action(server.url, 'confirm', { body: { token, password: PASSWORD } });
      assert.equal(confirmed.status, 200, 'the token was not used up by the refused attempts');
    });
  });

  test('off by default', async () => {
    const server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
    try {
      const { token } = await signUp(server.url, smtp, uniqueAddress('pwned-off'));
      const before = range.requests.length;

      const confirmed = await action(server.url, 'confirm', { body: { token, password: PWNED } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assert.equal(range.requests.length, before);
    } finally {
      await server.stop();
    }
  });

  test('settings', () => {
    assert.equal(loadConfig({}).pwnedPasswords, null);
    assert.deepEqual(loadConfig({ PWNED_PASSWORDS_URL: 'https://api.pwnedpasswords.com/range' }).pwnedPasswords, {
      url: 'https://api.pwnedpasswords.com/range/',
      timeoutMs: 2000,
      failMode: 'open',
    });
    assert.throws(() => loadConfig({ PWNED_PASSWORDS_URL: 'ftp://example.com/range/' }), ConfigError);
    assert.throws(() => loadConfig({ PWNED_PASSWORDS_FAIL: 'maybe' }), /PWNED_PASSWORDS_FAIL must be one of: open, closed/);
  });
});

describe('rehash on login', () => {
  let smtp: SmtpSink;

  before(async () => {
    smtp = new SmtpSink();
    await smtp.start();
  });

  after(async () => {
    await smtp.stop();
  });

  interface HashRow {
    password_hash: string;
    password_changed_at: number;
  }

  async function hashOf(dataDir: string, uuid: string): Promise<HashRow> {
    const [row] = await sqlRows<HashRow>(dataDir, 'SELECT password_hash, password_changed_at FROM accounts WHERE uuid = ?', [uuid]);
    assert.ok(row, `no account ${uuid}`);
    return row;
  }

  test('raised HASH_TIME_COST rehashes', async () => {
    const dataDir = tempDataDir();
    const smtpUrl = `smtp://127.0.0.1:${smtp.port}`;

    const first = await startTestServer({ DATA_DIR: dataDir, SMTP_URL: smtpUrl });
    const account = await activeAccount(first.url, smtp, uniqueAddress('rehash'));
    await first.stop();
    const original = await hashOf(dataDir, account.uuid);
    assert.match(original.password_hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);

    const raised = await startTestServer({ DATA_DIR: dataDir, SMTP_URL: smtpUrl, HASH_TIME_COST: '3' });
    try {
      const wrong = await action(raised.url, 'login', { body: { username: account.email, password: 'not the password' } });
      assert.equal(wrong.status, 401);
      assert.equal((await hashOf(dataDir, account.uuid)).password_hash, original.password_hash, 'a failed login changes nothing');

      const login = await action(raised.url, 'login', { body: { username: account.email, password: PASSWORD } });
      assert.equal(login.status, 200);
      const upgraded = await hashOf(dataDir, account.uuid);
      assert.match(upgraded.password_hash, /^\$argon2id\$v=19\$m=19456,p=1,t=3\$/);
      assert.equal(upgraded.password_changed_at, original.password_changed_at, 'a rehash is no password change');

      const again = await action(raised.url, 'login', { body: { username: account.email, password: PASSWORD } });
      assert.equal(again.status, 200);
      assert.equal((await hashOf(dataDir, account.uuid)).password_hash, upgraded.password_hash, 'hashed once');
      assert.equal((await action(raised.url, 'check_login', { cookies: account.cookies })).status, 200, 'sessions survive');
    } finally {
      await raised.stop();
    }
  });

  test('Basic login rehashes too', async () => {
    const dataDir = tempDataDir();
    const smtpUrl = `smtp://127.0.0.1:${smtp.port}`;

    const first = await startTestServer({ DATA_DIR: dataDir, SMTP_URL: smtpUrl });
    const account = await activeAccount(first.url, smtp, uniqueAddress('rehash-basic'));
    await first.stop();

    const raised = await startTestServer({ DATA_DIR: dataDir, SMTP_URL: smtpUrl, HASH_MEMORY_KIB: '20480' });
    try {
      const authorization = `Basic ${Buffer.from(`${account.email}:${PASSWORD}`, 'utf8').toString('base64')}`;
      const profile = await request(`${raised.url}/api/2.0/profile/`, { method: 'GET', headers: { Authorization: authorization } });
      assert.equal(profile.status, 200);
      assert.match((await hashOf(dataDir, account.uuid)).password_hash, /^\$argon2id\$v=19\$m=20480,p=1,t=2\$/);
    } finally {
      await raised.stop();
    }
  });
});
