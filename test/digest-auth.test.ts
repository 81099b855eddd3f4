import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { activeAccount, uniqueAddress } from './helpers/accounts.js';
import { action } from './helpers/client.js';
import { sleep } from './helpers/outbox.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { STEP_MS, totp } from './helpers/totp.js';

const run = promisify(execFile);

const CURL = '/usr/bin/curl';
const PROFILE_PATH = '/api/2.0/profile/';
const CHECK_LOGIN_TARGET = '/api/2.0/accounts/action/?do=check_login_with_return_uuid';
const PASSWORD = 'Digest-Test-Password-77';

type Algorithm = 'MD5' | 'SHA-256';

interface RawResponse {
  status: number;
  /** Header values by lower-case name, one entry per header line, as sent. */
  headers: NodeJS.Dict<string[]>;
  text: string;
  body: unknown;
}

interface Challenge {
  scheme: string;
  params: Map<string, string>;
}

interface Account {
  email: string;
  password: string;
  uuid: string;
  cookies: Record<string, string>;
}

/** Sends one request with exactly these headers over node:http, which keeps repeated header lines apart. */
function send(baseUrl: string, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  const allHeaders: Record<string, string> = { Accept: 'application/json', ...headers };
  if (body !== undefined) allHeaders['Content-Type'] ??= 'application/json';

  return new Promise((resolve, reject) => {
    const outgoing = http.request({ host: hostname, port, method, path: target, headers: allHeaders }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = undefined;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: the test reads `text`.
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headersDistinct, text, body: parsed });
      });
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Parses `name=token` and `name="quoted"` pairs, unescaping backslash escapes (RFC 7235 auth-param). */
function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const match of text.matchAll(/([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
    params.set((match[1] ?? '').toLowerCase(), value);
  }
  return params;
}

/** Returns the challenges of a response, one per WWW-Authenticate header line. */
function challengesOf(response: RawResponse): Challenge[] {
  return (response.headers['www-authenticate'] ?? []).map((line) => {
    const space = line.indexOf(' ');
    return { scheme: line.slice(0, space), params: parseParams(line.slice(space + 1)) };
  });
}

function digestChallenges(response: RawResponse): Challenge[] {
  return challengesOf(response).filter((challenge) => challenge.scheme.toLowerCase() === 'digest');
}

function digestChallengeFor(response: RawResponse, algorithm: Algorithm): Map<string, string> {
  const challenge = digestChallenges(response).find((candidate) => candidate.params.get('algorithm')?.toUpperCase() === algorithm);
  assert.ok(challenge, `no Digest challenge with algorithm ${algorithm} in ${JSON.stringify(response.headers['www-authenticate'])}`);
  return challenge.params;
}

/** Requests the profile without credentials and returns the Digest challenge for `algorithm`. */
async function freshChallenge(baseUrl: string, algorithm: Algorithm = 'MD5'): Promise<Map<string, string>> {
  const response = await send(baseUrl, 'GET', PROFILE_PATH);
  assert.equal(response.status, 401);
  return digestChallengeFor(response, algorithm);
}

function hash(algorithm: Algorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
}

/** Quotes a value as an RFC 7230 quoted-string, escaping backslashes and double quotes. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
}

interface DigestOptions {
  username: string;
  password: string;
  method: string;
  /** The uri parameter; the response is always computed over it. */
  uri: string;
  challenge: Map<string, string>;
  algorithm?: Algorithm;
  /** Whether to send the algorithm parameter (RFC 2617 clients may leave it out, which means MD5). */
  sendAlgorithm?: boolean;
  nc?: string;
  cnonce?: string;
  nonce?: string;
  realm?: string;
  qop?: string | null;
}

/** Computes an RFC 7616 Digest `Authorization` header with qop=auth. */
function digestAuthorization(options: DigestOptions): string {
  const algorithm = options.algorithm ?? 'MD5';
  const realm = options.realm ?? options.challenge.get('realm') ?? '';
  const nonce = options.nonce ?? options.challenge.get('nonce') ?? '';
  const nc = options.nc ?? '00000001';
  const cnonce = options.cnonce ?? randomBytes(8).toString('hex');
  const qop = options.qop === undefined ? 'auth' : options.qop;

  const ha1 = hash(algorithm, `${options.username}:${realm}:${options.password}`);
  const ha2 = hash(algorithm, `${options.method}:${options.uri}`);
  const response = qop === null ? hash(algorithm, `${ha1}:${nonce}:${ha2}`) : hash(algorithm, `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`);

  const parts = [
    `username=${quoted(options.username)}`,
    `realm=${quoted(realm)}`,
    `nonce=${quoted(nonce)}`,
    `uri=${quoted(options.uri)}`,
    `response="${response}"`,
    `opaque=${quoted(options.challenge.get('opaque') ?? '')}`,
  ];
  if (options.sendAlgorithm !== false) parts.push(`algorithm=${algorithm}`);
  if (qop !== null) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quoted(cnonce)}`);
  return `Digest ${parts.join(', ')}`;
}

/** Runs the system curl with Digest credentials and returns the status and body it printed. */
async function curlDigest(account: Account, url: string, extra: string[] = []): Promise<{ status: number; body: unknown }> {
  // --noproxy keeps curl on the loopback server even when the environment names a proxy.
  const { stdout } = await run(
    CURL,
    ['--silent', '--show-error', '--noproxy', '*', '--max-time', '20', '--digest', '--user', `${account.email}:${account.password}`, '-H', 'Accept: application/json', ...extra, '--write-out', '\n%{http_code}', url],
    { timeout: 30_000 },
  );

  const newline = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(newline + 1)), body: JSON.parse(stdout.slice(0, newline)) as unknown };
}

function assertStatus(response: RawResponse, status: number, label = ''): void {
  assert.equal(response.status, status, `${label} expected ${status}, got ${response.status}: ${response.text.slice(0, 300)}`);
}

let smtp: SmtpSink;

before(async () => {
  smtp = new SmtpSink();
  await smtp.start();
});

after(async () => {
  await smtp.stop();
});

describe('Digest enabled', () => {
  let server: TestServer;
  let account: Account;

  before(async () => {
    server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, DIGEST_AUTH: 'on' });
    account = await activeAccount(server.url, smtp, uniqueAddress('digest'), PASSWORD);
  });

  after(async () => {
    await server.stop();
  });

  const credentials = () => ({ username: account.email, password: account.password });

  test('two-factor account needs OTP', async () => {
    const owner = await activeAccount(server.url, smtp, uniqueAddress('digest-otp'), PASSWORD);
    const session = { cookies: owner.cookies, headers: { 'X-CSRFToken': owner.cookies.csrftoken ?? '' } };
    const setup = await action(server.url, 'otp_setup', session);
    const { secret } = setup.body as { secret: string };
    const enabled = await action(server.url, 'otp_enable', { ...session, body: { password: PASSWORD }, headers: { ...session.headers, OTP: totp(secret) } });
    assert.equal(enabled.status, 200, enabled.text);

    const url = `${server.url}/api/2.0/profile/`;
    const without = await curlDigest(owner, url);
    assert.equal(without.status, 401);
    assert.match(JSON.stringify(without.body), /OTP header/);

    const withCode = await curlDigest(owner, url, ['-H', `OTP: ${totp(secret, Date.now() + STEP_MS)}`]);
    assert.equal(withCode.status, 200);
    assert.equal((withCode.body as { uuid: string }).uuid, owner.uuid);
  });

  test('401 offers Basic, SHA-256 and MD5', async () => {
    const response = await send(server.url, 'GET', PROFILE_PATH);
    assertStatus(response, 401);

    const challenges = challengesOf(response);
    assert.ok(challenges.some((challenge) => challenge.scheme === 'Basic'), 'a Basic challenge');

    const digests = digestChallenges(response);
    assert.deepEqual(digests.map((challenge) => challenge.params.get('algorithm')).sort(), ['MD5', 'SHA-256']);
    for (const challenge of digests) {
      assert.equal(challenge.params.get('qop'), 'auth');
      assert.ok(challenge.params.get('realm'));
      assert.ok(challenge.params.get('nonce'));
      assert.ok(challenge.params.get('opaque'));
      assert.equal(challenge.params.get('stale'), undefined);
    }
  });

  test('curl --digest on an action with a query string', async () => {
    const result = await curlDigest(account, `${server.url}${CHECK_LOGIN_TARGET}`, ['-X', 'POST', '-H', 'Content-Type: application/json', '--data', '{}']);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.deepEqual(result.body, { uuid: account.uuid });
  });

  test('curl --digest on the profile with two query parameters', async () => {
    const result = await curlDigest(account, `${server.url}${PROFILE_PATH}?a=1&b=2`);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal((result.body as { uuid: string }).uuid, account.uuid);
    assert.equal((result.body as { email: string }).email, account.email);
  });

  test('curl --digest with a wrong password', async () => {
    const result = await curlDigest({ ...account, password: 'not-the-password' }, `${server.url}${PROFILE_PATH}`);
    assert.equal(result.status, 401);
  });

  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    test(`hand-computed ${algorithm} response`, async () => {
      const challenge = await freshChallenge(server.url, algorithm);
      const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, algorithm });

      const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
      assertStatus(response, 200);
      assert.equal((response.body as { uuid: string }).uuid, account.uuid);
    });
  }

  test('MD5 without the algorithm parameter', async () => {
    const challenge = await freshChallenge(server.url, 'MD5');
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, sendAlgorithm: false });

    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization }), 200);
  });

  test('POST action with a query string', async () => {
    const challenge = await freshChallenge(server.url, 'SHA-256');
    const authorization = digestAuthorization({ ...credentials(), method: 'POST', uri: CHECK_LOGIN_TARGET, challenge, algorithm: 'SHA-256' });

    const response = await send(server.url, 'POST', CHECK_LOGIN_TARGET, { Authorization: authorization }, '{}');
    assertStatus(response, 200);
    assert.deepEqual(response.body, { uuid: account.uuid });
  });

  test('replayed nonce count is 401', async () => {
    const challenge = await freshChallenge(server.url);
    const first = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, nc: '00000001', cnonce: 'first' });
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: first }), 200, 'first use');

    const replay = await send(server.url, 'GET', PROFILE_PATH, { Authorization: first });
    assertStatus(replay, 401, 'same header again');
    assert.ok(digestChallenges(replay).length > 0, 'the 401 carries a new challenge');

    const sameCountOtherCnonce = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, nc: '00000001', cnonce: 'second' });
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: sameCountOtherCnonce }), 401, 'same nc, other cnonce');
  });

  test('higher nonce count is accepted', async () => {
    const challenge = await freshChallenge(server.url, 'SHA-256');
    const at = (nc: string) => digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, algorithm: 'SHA-256', nc });

    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: at('00000001') }), 200, 'nc 1');
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: at('00000002') }), 200, 'nc 2');
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: at('0000000a') }), 200, 'nc 10 after a gap');
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: at('00000003') }), 401, 'nc 3 after nc 10');
  });

  test('concurrent replays succeed once', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge });

    const responses = await Promise.all(Array.from({ length: 8 }, () => send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization })));
    assert.deepEqual(
      responses.map((response) => response.status).sort(),
      [200, 401, 401, 401, 401, 401, 401, 401],
    );
  });

  test('replay on another node is 401', async () => {
    // A second server on the same database acts as another node, so the nonce key and counts are shared.
    const other = await startTestServer({ DATA_DIR: server.dataDir, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, DIGEST_AUTH: 'on' });
    try {
      const challenge = await freshChallenge(server.url);
      const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge });

      assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization }), 200, 'first node:');
      assertStatus(await send(other.url, 'GET', PROFILE_PATH, { Authorization: authorization }), 401, 'replay on the second node:');

      const next = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, nc: '00000002' });
      assertStatus(await send(other.url, 'GET', PROFILE_PATH, { Authorization: next }), 200, 'next count on the second node:');
    } finally {
      await other.stop();
    }
  });

  test('wrong Digest header beats a valid session cookie', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), password: 'Wrong-Password-99', method: 'GET', uri: PROFILE_PATH, challenge });
    const cookie = Object.entries(account.cookies).map(([name, value]) => `${name}=${value}`).join('; ');

    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization, Cookie: cookie }), 401);
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Cookie: cookie }), 200, 'the cookie alone:');
  });

  test('malformed nonce count is 401', async () => {
    const challenge = await freshChallenge(server.url);
    for (const nc of ['1', '0000000g', '000000001']) {
      const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, nc });
      assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization }), 401, `nc ${nc}`);
    }
  });

  test('uri of another path is 400', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: '/api/2.0/profile/schema/', challenge });

    const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
    assertStatus(response, 400);
    assert.equal((response.body as Array<{ error_type: string }>)[0]?.error_type, 'validation');
  });

  test('uri without the query string is 400', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge });

    const response = await send(server.url, 'GET', `${PROFILE_PATH}?a=1&b=2`, { Authorization: authorization });
    assertStatus(response, 400);
    assert.equal((response.body as Array<{ error_type: string }>)[0]?.error_type, 'validation');
  });

  test('uri with the query string of another request is 400', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'POST', uri: '/api/2.0/accounts/action/?do=check_login', challenge });

    const response = await send(server.url, 'POST', CHECK_LOGIN_TARGET, { Authorization: authorization }, '{}');
    assertStatus(response, 400);
  });

  test('uri equal to a path without its final slash', async () => {
    const target = '/api/2.0/profile';
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: target, challenge });

    assertStatus(await send(server.url, 'GET', target, { Authorization: authorization }), 200);
  });

  test('tampered nonce is 401', async () => {
    const challenge = await freshChallenge(server.url);
    const nonce = challenge.get('nonce') ?? '';
    const [issued = '', random = '', signature = ''] = nonce.split('.');
    const flipped = (text: string) => `${text.slice(0, -1)}${text.endsWith('A') ? 'B' : 'A'}`;

    const tampered = [
      ['signature changed', `${issued}.${random}.${flipped(signature)}`],
      ['issue time moved forward', `${(parseInt(issued, 36) + 3_600_000).toString(36)}.${random}.${signature}`],
      ['random part changed', `${issued}.${flipped(random)}.${signature}`],
      ['signature removed', `${issued}.${random}`],
      ['made-up nonce', 'dcd98b7102dd2f0e8b11d0f600bfb0c093'],
    ];
    for (const [label, forged] of tampered) {
      const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, nonce: forged });
      const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
      assertStatus(response, 401, `${label}:`);
      assert.ok(digestChallenges(response).every((entry) => entry.params.get('stale') === undefined), `${label}: not stale`);
    }
  });

  test('wrong password, realm, qop or user is 401', async () => {
    const challenge = await freshChallenge(server.url);
    const base = { ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge };

    const cases: Array<[string, string]> = [
      ['wrong password', digestAuthorization({ ...base, password: 'Digest-Test-Password-78' })],
      ['other realm', digestAuthorization({ ...base, realm: 'users' })],
      ['no qop (RFC 2069 form)', digestAuthorization({ ...base, qop: null })],
      ['qop auth-int', digestAuthorization({ ...base, qop: 'auth-int' })],
      ['unknown user', digestAuthorization({ ...base, username: uniqueAddress('nobody') })],
      ['MD5-sess', digestAuthorization(base).replace('algorithm=MD5', 'algorithm=MD5-sess')],
    ];
    for (const [label, authorization] of cases) {
      assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization }), 401, `${label}:`);
    }
  });

  test('malformed Digest headers are 401', async () => {
    const challenge = await freshChallenge(server.url);
    const valid = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge });

    const cases = [
      'Digest',
      'Digest ',
      'Digest username',
      'Digest username=',
      'Digest username="unterminated',
      'Digest ,,,',
      `${valid}, username="again"`,
      valid.replace(/, /g, ' '),
      'Digest username="a\\',
    ];
    for (const header of cases) {
      const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: header });
      assertStatus(response, 401, `${JSON.stringify(header)}:`);
      assert.ok(digestChallenges(response).length > 0, `${JSON.stringify(header)}: a Digest challenge`);
    }
  });

  test('quoted strings with commas, equals signs and escaped quotes', async () => {
    const challenge = await freshChallenge(server.url);
    const cnonce = 'a,b=c"d';
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, cnonce });
    assert.ok(authorization.includes('cnonce="a,b=c\\"d"'), authorization);

    const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
    assertStatus(response, 200);
  });

  test('escaped backslash and parameters in another order', async () => {
    const challenge = await freshChallenge(server.url, 'SHA-256');
    const cnonce = 'back\\slash, "quoted" =';
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge, cnonce, algorithm: 'SHA-256' });

    const reordered = `Digest ${authorization.slice('Digest '.length).split(/, (?=[a-z]+=)/).reverse().join(' ,  ')}`;
    const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: reordered });
    assertStatus(response, 200, reordered);
  });

  test('PUT needs no CSRF token', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'PUT', uri: PROFILE_PATH, challenge });

    const response = await send(server.url, 'PUT', PROFILE_PATH, { Authorization: authorization }, JSON.stringify({ company: 'Digest Company' }));
    assertStatus(response, 200);
    assert.equal((response.body as { company: string }).company, 'Digest Company');
  });

  test('response for another method is 401', async () => {
    const challenge = await freshChallenge(server.url);
    const authorization = digestAuthorization({ ...credentials(), method: 'GET', uri: PROFILE_PATH, challenge });

    const response = await send(server.url, 'PUT', PROFILE_PATH, { Authorization: authorization }, JSON.stringify({ company: 'Nope' }));
    assertStatus(response, 401);
  });
});

describe('Digest nonce expiry', () => {
  let server: TestServer;
  let account: Account;

  before(async () => {
    server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, DIGEST_AUTH: 'on', DIGEST_NONCE_TTL_SECONDS: '2' });
    account = await activeAccount(server.url, smtp, uniqueAddress('stale'), PASSWORD);
  });

  after(async () => {
    await server.stop();
  });

  test('expired nonce with right password is stale', async () => {
    const challenge = await freshChallenge(server.url, 'SHA-256');
    await sleep(2500);

    const authorization = digestAuthorization({ username: account.email, password: PASSWORD, method: 'GET', uri: PROFILE_PATH, challenge, algorithm: 'SHA-256' });
    const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
    assertStatus(response, 401);

    const digests = digestChallenges(response);
    assert.ok(digests.length > 0, 'a Digest challenge');
    for (const entry of digests) {
      assert.equal(entry.params.get('stale')?.toLowerCase(), 'true');
      assert.notEqual(entry.params.get('nonce'), challenge.get('nonce'));
    }

    // RFC 7616: the client repeats the request with the new nonce and the same credentials.
    const renewed = digestChallengeFor(response, 'SHA-256');
    const retry = digestAuthorization({ username: account.email, password: PASSWORD, method: 'GET', uri: PROFILE_PATH, challenge: renewed, algorithm: 'SHA-256' });
    assertStatus(await send(server.url, 'GET', PROFILE_PATH, { Authorization: retry }), 200, 'retry with the new nonce:');
  });

  test('expired nonce with wrong password is not stale', async () => {
    const challenge = await freshChallenge(server.url);
    await sleep(2500);

    const authorization = digestAuthorization({ username: account.email, password: 'Wrong-Password-99', method: 'GET', uri: PROFILE_PATH, challenge });
    const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
    assertStatus(response, 401);

    const digests = digestChallenges(response);
    assert.ok(digests.length > 0, 'a Digest challenge');
    for (const entry of digests) assert.equal(entry.params.get('stale'), undefined);
  });
});

describe('Digest disabled', () => {
  let server: TestServer;
  let account: Account;

  before(async () => {
    server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
    account = await activeAccount(server.url, smtp, uniqueAddress('nodigest'), PASSWORD);
  });

  after(async () => {
    await server.stop();
  });

  test('401 has no Digest challenge', async () => {
    const response = await send(server.url, 'GET', PROFILE_PATH);
    assertStatus(response, 401);
    assert.deepEqual(challengesOf(response).map((challenge) => challenge.scheme), ['Basic', 'Bearer']);
  });

  test('Digest header is 401', async () => {
    // The nonce has the shape an enabled server would send, but this server accepts no Digest at all.
    const challenge = new Map([
      ['realm', 'sigma-accounts'],
      ['nonce', 'lq5x1c2d.AAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'],
      ['opaque', '0123456789abcdef'],
    ]);
    const authorization = digestAuthorization({ username: account.email, password: PASSWORD, method: 'GET', uri: PROFILE_PATH, challenge });

    const response = await send(server.url, 'GET', PROFILE_PATH, { Authorization: authorization });
    assertStatus(response, 401);
    assert.equal(digestChallenges(response).length, 0);
  });
});

describe('Digest hashes made at login', () => {
  test('account from before Digest was enabled', async () => {
    const first = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
    let account: Account;
    try {
      account = await activeAccount(first.url, smtp, uniqueAddress('upgrade'), PASSWORD);
    } finally {
      await first.stop();
    }

    const second = await startTestServer({ DATA_DIR: first.dataDir, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, DIGEST_AUTH: 'on' });
    try {
      const digestGet = async () => {
        const challenge = await freshChallenge(second.url);
        const authorization = digestAuthorization({ username: account.email, password: PASSWORD, method: 'GET', uri: PROFILE_PATH, challenge });
        return send(second.url, 'GET', PROFILE_PATH, { Authorization: authorization });
      };

      assertStatus(await digestGet(), 401, 'before a login:');

      const login = await action(second.url, 'login', { body: { username: account.email, password: PASSWORD } });
      assert.equal(login.status, 200, login.text);

      const afterLogin = await digestGet();
      assertStatus(afterLogin, 200, 'after a login:');
      assert.equal((afterLogin.body as { uuid: string }).uuid, account.uuid);
    } finally {
      await second.stop();
    }
  });
});
