import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { activeAccount, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const PROFILE_PATH = '/api/2.0/profile/';
// The password has colons, a space and letters outside ASCII. RFC 7617 splits user and password at the first colon.
const PASSWORD = 'pä:ss wörd:42';

let smtp: SmtpSink;
let server: TestServer;
let account: { email: string; password: string; uuid: string; cookies: Record<string, string> };

function basic(username: string, password: string, scheme = 'Basic'): string {
  return `${scheme} ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function getProfile(headers: Record<string, string>, cookies?: Record<string, string>): Promise<ApiResponse> {
  return request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers, ...(cookies ? { cookies } : {}) });
}

/** Sends GET /api/2.0/profile/ with the Authorization header byte for byte, which fetch would trim or refuse. */
function getProfileRaw(authorization: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const { hostname, port } = new URL(server.url);

  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      // Node writes header strings as Latin-1, one byte per character.
      { host: hostname, port, path: PROFILE_PATH, method: 'GET', headers: { Accept: 'application/json', Authorization: authorization } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** Asserts a 401 error list whose challenge offers Basic. */
function assertBasicChallenge(response: ApiResponse, label: string): void {
  assert.equal(response.status, 401, `${label}: expected 401, got ${response.status}: ${response.text.slice(0, 200)}`);
  assert.equal(errorList(response)[0]?.error_type, 'permission', label);
  assert.match(response.headers.get('www-authenticate') ?? '', /(^|,\s*)Basic realm="[^"]+"/, label);
}

before(async () => {
  smtp = new SmtpSink();
  server = await startTestServer({ SMTP_URL: await smtp.start() });
  account = await activeAccount(server.url, smtp, uniqueAddress('basic'), PASSWORD);
});

after(async () => {
  await server.stop();
  await smtp.stop();
});

describe('Basic credentials', () => {
  test('password with colons and non-ASCII letters', async () => {
    const authorization = basic(account.email, PASSWORD);

    const checked = await action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: authorization } });
    assert.equal(checked.status, 200, checked.text);
    assert.deepEqual(checked.body, { uuid: account.uuid });

    const profile = await getProfile({ Authorization: authorization });
    assert.equal(profile.status, 200, profile.text);
    assert.equal((profile.body as { uuid: string }).uuid, account.uuid);
    assert.equal((profile.body as { email: string }).email, account.email);
  });

  test('password in decomposed Unicode form', async () => {
    // The password was set in composed form (NFC), and a client that sends the decomposed form (NFD) still logs in.
    const decomposed = PASSWORD.normalize('NFD');
    assert.notEqual(decomposed, PASSWORD);

    const profile = await getProfile({ Authorization: basic(account.email, decomposed) });
    assert.equal(profile.status, 200, profile.text);
  });

  test('scheme name in any letter case', async () => {
    // RFC 7235 section 2.1: the authentication scheme is a case-insensitive token.
    for (const scheme of ['basic', 'BASIC', 'bAsIc']) {
      const profile = await getProfile({ Authorization: basic(account.email, PASSWORD, scheme) });
      assert.equal(profile.status, 200, `${scheme}: ${profile.text}`);
    }
  });

  test('session cookie still works without a header', async () => {
    const profile = await getProfile({}, account.cookies);
    assert.equal(profile.status, 200, profile.text);
    assert.equal((profile.body as { uuid: string }).uuid, account.uuid);
  });
});

describe('malformed Authorization headers', () => {
  const encoded = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  const cases: Array<[string, string]> = [
    ['not base64', 'Basic !!!not-base64!!!'],
    ['base64 of wrong length', `Basic ${encoded('user@example.com:secret').slice(0, -1)}`],
    ['base64 inside a quoted string', `Basic "${encoded('user@example.com:secret')}"`],
    ['no colon', `Basic ${encoded('user@example.com-secret')}`],
    ['invalid UTF-8', `Basic ${Buffer.from([0x75, 0x3a, 0xff, 0xfe, 0xfd]).toString('base64')}`],
    ['empty user and password', `Basic ${encoded(':')}`],
    ['empty header', ''],
    ['scheme alone', 'Basic'],
    ['lowercase scheme alone', 'basic'],
    ['lowercase scheme with bad base64', 'basic %%%'],
    ['uppercase scheme without a colon', `BASIC ${encoded('no-colon')}`],
    ['two credentials', `Basic ${encoded('a:b')} ${encoded('c:d')}`],
    ['unknown scheme', 'Foo bar'],
    ['Bearer token', 'Bearer 0123456789abcdef'],
    ['Negotiate', 'Negotiate YIIBzQYGKwYBBQUCoIIBwTCCAb2gMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCqKCAYcEggGD'],
    ['Digest while Digest is off', 'Digest username="user@example.com", realm="sigma-accounts", nonce="x", uri="/", response="0"'],
    ['very long value', `Basic ${'A'.repeat(6000)}`],
  ];

  for (const [label, value] of cases) {
    test(`${label} is 401`, async () => {
      const profile = await getProfile({ Authorization: value });
      assertBasicChallenge(profile, label);

      const checked = await action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: value } });
      assertBasicChallenge(checked, `${label} on check_login_with_return_uuid`);
    });
  }

  test('scheme with trailing space is 401', async () => {
    const response = await getProfileRaw('Basic ');
    assert.equal(response.status, 401, response.text);
    assert.match(String(response.headers['www-authenticate']), /Basic realm=/);
  });

  test('Latin-1 bytes in the header are 401', async () => {
    const response = await getProfileRaw('Basic \u00ff\u00e9\u00e4==');
    assert.equal(response.status, 401, response.text);
    assert.match(String(response.headers['www-authenticate']), /Basic realm=/);
  });
});

describe('wrong credentials', () => {
  test('wrong password costs one verification', async () => {
    const before = server.hasher.verifications;
    const profile = await getProfile({ Authorization: basic(account.email, 'pä:ss wörd:43') });
    assertBasicChallenge(profile, 'GET profile');
    assert.equal(server.hasher.verifications - before, 1);

    const beforeAction = server.hasher.verifications;
    const checked = await action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: basic(account.email, 'wrong password 1') } });
    assertBasicChallenge(checked, 'check_login_with_return_uuid');
    assert.equal(server.hasher.verifications - beforeAction, 1);
  });

  test('unknown user costs one verification', async () => {
    const before = server.hasher.verifications;
    const profile = await getProfile({ Authorization: basic(uniqueAddress('nobody'), PASSWORD) });
    assertBasicChallenge(profile, 'unknown user');
    assert.equal(server.hasher.verifications - before, 1);
  });

  test('overlong password is 401 without hashing', async () => {
    // Passwords over 1,024 bytes are never hashed, so a huge header cannot tie up the hasher.
    const before = server.hasher.verifications;
    const profile = await getProfile({ Authorization: basic(account.email, 'x'.repeat(1025)) });
    assertBasicChallenge(profile, 'overlong password');
    assert.equal(server.hasher.verifications - before, 0);
  });

  test('password cut at the first colon fails', async () => {
    // A server that split at every colon would take "pä" as the whole password and accept it.
    const profile = await getProfile({ Authorization: basic(account.email, 'pä') });
    assertBasicChallenge(profile, 'first segment only');
  });

  test('wrong header beats a valid session cookie', async () => {
    const wrong = basic(account.email, 'not the password');

    const profile = await getProfile({ Authorization: wrong }, account.cookies);
    assertBasicChallenge(profile, 'GET profile');

    const checked = await action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: wrong }, cookies: account.cookies });
    assertBasicChallenge(checked, 'check_login_with_return_uuid');

    const malformed = await getProfile({ Authorization: 'Basic !!!' }, account.cookies);
    assertBasicChallenge(malformed, 'malformed header with cookie');

    const stillValid = await getProfile({}, account.cookies);
    assert.equal(stillValid.status, 200, 'the session itself stays valid');
  });
});

describe('Basic and CSRF', () => {
  test('PUT needs no CSRF token', async () => {
    const saved = await request(`${server.url}${PROFILE_PATH}`, {
      method: 'PUT',
      headers: { Authorization: basic(account.email, PASSWORD) },
      body: { company: 'Basic Company' },
    });
    assert.equal(saved.status, 200, saved.text);
    assert.equal((saved.body as { company: string }).company, 'Basic Company');

    const profile = await getProfile({ Authorization: basic(account.email, PASSWORD) });
    assert.equal((profile.body as { company: string }).company, 'Basic Company');
  });

  test('PUT with Basic and a cookie but no CSRF token', async () => {
    // The request is authenticated by its header, so the cookie that came along brings no CSRF duty.
    const saved = await request(`${server.url}${PROFILE_PATH}`, {
      method: 'PUT',
      headers: { Authorization: basic(account.email, PASSWORD) },
      cookies: account.cookies,
      body: { company: 'Basic With Cookie' },
    });
    assert.equal(saved.status, 200, saved.text);
  });
});
