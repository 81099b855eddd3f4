import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';

import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { openStore, type Store } from '../src/storage/store.js';
import { clientAddressKey } from '../src/throttle/client-address.js';
import { RedisThrottleStore } from '../src/throttle/redis-throttle-store.js';
import type { ThrottleStore } from '../src/throttle/throttle-store.js';
import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { sleep } from './helpers/outbox.js';
import { freePort } from './helpers/ports.js';
import { startTestServer, tempDataDir, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, ensureDatabase } from './helpers/store.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PROFILE_PATH = '/api/2.0/profile/';
const WRONG = 'not the password at all';

// Limits far above what a test reaches, so that each test tightens only the limit it is about.
const GENEROUS = {
  TRUSTED_PROXIES: '127.0.0.1',
  THROTTLE_FAILURES_PER_IP: '1000',
  THROTTLE_FAILURES_PER_ACCOUNT: '1000',
  THROTTLE_CREATE_PER_IP: '1000',
  THROTTLE_CREATE_PER_ADDRESS: '1000',
  THROTTLE_RESET_PER_IP: '1000',
  THROTTLE_RESET_PER_ADDRESS: '1000',
};

let smtp: SmtpSink;
let smtpUrl: string;
let ipCounter = 0;

/** Returns a client address from a documentation range that no other test in this run uses. No traffic goes to it. */
function freshIp(): string {
  ipCounter += 1;
  return `203.0.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

function from(ip: string): Record<string, string> {
  return { 'X-Forwarded-For': ip };
}

function login(server: TestServer, username: string, password: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return action(server.url, 'login', { body: { username, password }, headers });
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function getProfile(server: TestServer, headers: Record<string, string>): Promise<ApiResponse> {
  return request(`${server.url}${PROFILE_PATH}`, { method: 'GET', headers });
}

function startServer(env: Record<string, string>): Promise<TestServer> {
  return startTestServer({ SMTP_URL: smtpUrl, ...GENEROUS, ...env });
}

/** Asserts a 429 error list with a Retry-After header, and returns the header's seconds. */
function assertThrottled(response: ApiResponse, label: string): number {
  assert.equal(response.status, 429, `${label}: expected 429, got ${response.status}: ${response.text.slice(0, 200)}`);
  const [entry] = errorList(response);
  assert.equal(entry?.error_type, 'permission', label);
  assert.equal(entry?.error_point, null, label);
  assert.match(entry?.error_message ?? '', /retry after \d+ seconds/, label);

  const retryAfter = response.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^\d+$/, `${label}: Retry-After is whole seconds`);
  return Number(retryAfter);
}

function assertStatus(response: ApiResponse, status: number, label: string): void {
  assert.equal(response.status, status, `${label}: expected ${status}, got ${response.status}: ${response.text.slice(0, 200)}`);
}

before(async () => {
  smtp = new SmtpSink();
  smtpUrl = await smtp.start();
});

after(async () => {
  await smtp.stop();
});

describe('per-account delay', () => {
  test('guessing one account gets slowed', async (t) => {
    const server = await startServer({
      THROTTLE_FAILURES_PER_ACCOUNT: '3',
      THROTTLE_ACCOUNT_DELAY_SECONDS: '1',
      THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '2',
    });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('slowed'));

    // Each guess comes from another IP, so only the per-account count can slow them.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      assertStatus(await login(server, account.email, WRONG, from(freshIp())), 401, `free failure ${attempt}`);
    }

    const hashesBefore = server.hasher.verifications;
    assert.equal(assertThrottled(await login(server, account.email, WRONG, from(freshIp())), 'after 3 failures'), 1);
    assertThrottled(await login(server, account.email, account.password, from(freshIp())), 'the right password within the delay');
    assert.equal(server.hasher.verifications, hashesBefore, 'throttled attempts compute no password hash');

    await sleep(1100);
    assertStatus(await login(server, account.email, WRONG, from(freshIp())), 401, 'one attempt after the delay');
    assert.equal(assertThrottled(await login(server, account.email, WRONG, from(freshIp())), 'after 4 failures'), 2, 'the delay doubled');

    await sleep(2100);
    assertStatus(await login(server, account.email, WRONG, from(freshIp())), 401, 'one attempt after the second delay');
    assert.equal(assertThrottled(await login(server, account.email, WRONG, from(freshIp())), 'after 5 failures'), 2, 'the delay stops at the cap');

    await sleep(2100);
    const right = await login(server, account.email, account.password, from(freshIp()));
    assertStatus(right, 200, 'the right password from a fresh IP after the delay');
    assert.deepEqual(right.body, { uuid: account.uuid });

    // The success reset the account's failures, so three wrong passwords are free again.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      assertStatus(await login(server, account.email, WRONG, from(freshIp())), 401, `failure ${attempt} after the reset`);
    }
    assertThrottled(await login(server, account.email, WRONG, from(freshIp())), 'after 3 new failures');
  });

  test('429 same for unknown username', async (t) => {
    const server = await startServer({ THROTTLE_FAILURES_PER_ACCOUNT: '2', THROTTLE_ACCOUNT_DELAY_SECONDS: '30', THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '30' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('known'));
    const unknown = uniqueAddress('unknown');

    const answers: ApiResponse[] = [];
    for (const username of [account.email, unknown]) {
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        assertStatus(await login(server, username, WRONG, from(freshIp())), 401, `${username}: failure ${attempt}`);
      }
      const hashesBefore = server.hasher.verifications;
      const throttled = await login(server, username, WRONG, from(freshIp()));
      assertThrottled(throttled, username);
      assert.equal(server.hasher.verifications, hashesBefore, `${username}: no hash for a throttled attempt`);
      answers.push(throttled);
    }

    const [known, missing] = answers as [ApiResponse, ApiResponse];
    assert.equal(known.text, missing.text, 'the same body');
    assert.equal(known.headers.get('retry-after'), missing.headers.get('retry-after'), 'the same Retry-After');
    assert.equal(known.headers.get('content-type'), missing.headers.get('content-type'));
  });

  test('every spelling of one address counts together', async (t) => {
    const server = await startServer({ THROTTLE_FAILURES_PER_ACCOUNT: '2', THROTTLE_ACCOUNT_DELAY_SECONDS: '30', THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '30' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('spelling'));

    assertStatus(await login(server, account.email.toUpperCase(), WRONG, from(freshIp())), 401, 'upper case');
    assertStatus(await login(server, ` ${account.email} `, WRONG, from(freshIp())), 401, 'with spaces');
    assertThrottled(await login(server, account.email, WRONG, from(freshIp())), 'the address as registered');
  });
});

describe('per-IP limit', () => {
  test('hard limit per client IP', async (t) => {
    const server = await startServer({ THROTTLE_FAILURES_PER_IP: '5', THROTTLE_FAILURES_WINDOW_SECONDS: '600' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('ip-limit'));
    const attacker = freshIp();

    // Password spraying: one guess at each of five usernames, so no per-account count matters.
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      assertStatus(await login(server, uniqueAddress('sprayed'), WRONG, from(attacker)), 401, `failure ${attempt}`);
    }

    const hashesBefore = server.hasher.verifications;
    const retryAfter = assertThrottled(await login(server, uniqueAddress('sprayed'), WRONG, from(attacker)), 'sixth failure');
    assert.ok(retryAfter > 590, `Retry-After ${retryAfter} is the rest of the 600 s window`);
    assert.ok(retryAfter <= 600, `Retry-After ${retryAfter} is within the 600 s window`);
    assertThrottled(await login(server, account.email, account.password, from(attacker)), 'the right password from the same IP');
    assert.equal(server.hasher.verifications, hashesBefore, 'throttled attempts compute no password hash');

    assertStatus(await login(server, account.email, account.password, from(freshIp())), 200, 'the right password from another IP');
  });

  test('every password check counts', async (t) => {
    const server = await startServer({ THROTTLE_FAILURES_PER_IP: '7', DIGEST_AUTH: 'on' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('all-checks'));
    const client = freshIp();
    const headers = from(client);
    const asOwner = { ...headers, Authorization: basic(account.email, account.password) };

    assertStatus(await login(server, account.email, WRONG, headers), 401, 'login');
    assertStatus(await getProfile(server, { ...headers, Authorization: basic(account.email, WRONG) }), 401, 'Basic');
    const withBody = await action(server.url, 'check_login_with_return_uuid', { body: { username: account.email, password: WRONG }, headers });
    assertStatus(withBody, 401, 'check_login_with_return_uuid');
    const changePassword = await action(server.url, 'change_password', { body: { old_password: WRONG, new_password: 'a brand new passphrase 9' }, headers: asOwner });
    assertStatus(changePassword, 400, 'change_password');
    const changeEmail = await action(server.url, 'change_email', { body: { email: uniqueAddress('new'), password: WRONG }, headers: asOwner });
    assertStatus(changeEmail, 400, 'change_email');
    assertStatus(await action(server.url, 'delete_account', { body: { password: WRONG }, headers: asOwner }), 400, 'delete_account');

    const challenge = await getProfile(server, headers);
    const nonce = /nonce="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1];
    assert.ok(nonce, 'the 401 offers a Digest nonce');
    const digest =
      `Digest username="${account.email}", realm="sigma-accounts", nonce="${nonce}", uri="${PROFILE_PATH}", ` +
      `qop=auth, nc=00000001, cnonce="${randomBytes(8).toString('hex')}", response="${'0'.repeat(32)}", algorithm=MD5`;
    assertStatus(await getProfile(server, { ...headers, Authorization: digest }), 401, 'Digest');

    // Seven failures from this IP: the limit is reached, so even the right password is refused now. Basic
    // credentials verified moments ago need no password check, so they still pass.
    const rightBody = await action(server.url, 'check_login_with_return_uuid', { body: { username: account.email, password: account.password }, headers });
    assertThrottled(rightBody, 'the right password after seven failures');
    assertStatus(await getProfile(server, asOwner), 200, 'Basic credential verified before the failures');
    assertStatus(await getProfile(server, { ...from(freshIp()), Authorization: basic(account.email, account.password) }), 200, 'another IP');
  });

  test('right Basic credential never throttled', async (t) => {
    const server = await startServer({ THROTTLE_FAILURES_PER_IP: '3', THROTTLE_FAILURES_PER_ACCOUNT: '3' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('program'));
    const program = freshIp();
    const right = { ...from(program), Authorization: basic(account.email, account.password) };
    const wrong = { ...from(program), Authorization: basic(account.email, WRONG) };

    for (let attempt = 1; attempt <= 2; attempt += 1) assertStatus(await getProfile(server, wrong), 401, `failure ${attempt}`);
    for (let call = 1; call <= 20; call += 1) assertStatus(await getProfile(server, right), 200, `call ${call} with the right password`);

    // The successes took nothing back: the two failures still count, so the third is the last one allowed.
    assertStatus(await getProfile(server, wrong), 401, 'third failure');
    assertThrottled(await getProfile(server, wrong), 'fourth failure');
  });

  test('parallel guesses cannot pass together', async (t) => {
    const server = await startServer({ THROTTLE_FAILURES_PER_IP: '3' });
    t.after(() => server.stop());
    const attacker = freshIp();

    const hashesBefore = server.hasher.verifications;
    const responses = await Promise.all(Array.from({ length: 12 }, () => login(server, uniqueAddress('burst'), WRONG, from(attacker))));
    const statuses = responses.map((response) => response.status).sort();

    assert.deepEqual(statuses, [401, 401, 401, ...Array.from({ length: 9 }, () => 429)]);
    assert.equal(server.hasher.verifications - hashesBefore, 3, 'only the admitted guesses were hashed');
  });
});

describe('mail request limits', () => {
  test('create per IP and per address', async (t) => {
    const server = await startServer({ THROTTLE_CREATE_PER_IP: '3', THROTTLE_CREATE_PER_ADDRESS: '2', THROTTLE_CREATE_WINDOW_SECONDS: '600' });
    t.after(() => server.stop());
    const create = (email: string, ip: string) => action(server.url, 'create', { body: { email }, headers: from(ip) });
    const fresh = uniqueAddress('create-limit');
    const registered = await activeAccount(server.url, smtp, uniqueAddress('create-registered'));

    assertStatus(await create(fresh, freshIp()), 200, 'first sign-up of an address');
    assertStatus(await create(fresh.toUpperCase(), freshIp()), 200, 'second sign-up, in another spelling');
    const freshLimited = await create(fresh, freshIp());
    assertThrottled(freshLimited, 'third sign-up of a new address');
    assert.match(errorList(freshLimited)[0]?.error_message ?? '', /email address/);

    // activeAccount signed the registered address up once already.
    assertStatus(await create(registered.email, freshIp()), 200, 'second sign-up of a registered address');
    const registeredLimited = await create(registered.email, freshIp());
    assertThrottled(registeredLimited, 'third sign-up of a registered address');
    assert.equal(withoutSeconds(registeredLimited), withoutSeconds(freshLimited), 'the 429 does not tell whether the address is registered');

    const office = freshIp();
    for (let index = 1; index <= 3; index += 1) assertStatus(await create(uniqueAddress('office'), office), 200, `sign-up ${index} from one IP`);
    const ipLimited = await create(uniqueAddress('office'), office);
    assertThrottled(ipLimited, 'fourth sign-up from one IP');
    assert.match(errorList(ipLimited)[0]?.error_message ?? '', /IP address/);
    assertStatus(await create(uniqueAddress('office'), freshIp()), 200, 'a sign-up from another IP');
  });

  test('request_password_reset per IP and per address', async (t) => {
    const server = await startServer({ THROTTLE_RESET_PER_IP: '3', THROTTLE_RESET_PER_ADDRESS: '2', THROTTLE_RESET_WINDOW_SECONDS: '600' });
    t.after(() => server.stop());
    const reset = (email: string, ip: string) => action(server.url, 'request_password_reset', { body: { email }, headers: from(ip) });
    const account = await activeAccount(server.url, smtp, uniqueAddress('reset-limit'));
    const unknown = uniqueAddress('reset-unknown');

    const answers: ApiResponse[] = [];
    for (const email of [account.email, unknown]) {
      assertStatus(await reset(email, freshIp()), 200, `${email}: first request`);
      assertStatus(await reset(email, freshIp()), 200, `${email}: second request`);
      const limited = await reset(email, freshIp());
      assertThrottled(limited, `${email}: third request`);
      assert.match(errorList(limited)[0]?.error_message ?? '', /email address/);
      answers.push(limited);
    }
    const [known, missing] = answers as [ApiResponse, ApiResponse];
    assert.equal(withoutSeconds(known), withoutSeconds(missing), 'the 429 does not tell whether the address has an account');

    const client = freshIp();
    for (let index = 1; index <= 3; index += 1) assertStatus(await reset(uniqueAddress('reset-any'), client), 200, `request ${index} from one IP`);
    const ipLimited = await reset(uniqueAddress('reset-any'), client);
    assertThrottled(ipLimited, 'fourth request from one IP');
    assert.match(errorList(ipLimited)[0]?.error_message ?? '', /IP address/);
  });
});

describe('counted client IP', () => {
  test('counters survive restart', async (t) => {
    const settings = {
      THROTTLE_FAILURES_PER_IP: '3',
      THROTTLE_FAILURES_PER_ACCOUNT: '2',
      THROTTLE_ACCOUNT_DELAY_SECONDS: '60',
      THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '60',
    };
    const first = await startServer(settings);
    t.after(() => first.stop());
    const attacker = freshIp();
    const target = uniqueAddress('restart-target');

    for (let attempt = 1; attempt <= 3; attempt += 1) {
      assertStatus(await login(first, uniqueAddress('restart-sprayed'), WRONG, from(attacker)), 401, `IP failure ${attempt}`);
    }
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      assertStatus(await login(first, target, WRONG, from(freshIp())), 401, `account failure ${attempt}`);
    }
    assertThrottled(await login(first, uniqueAddress('restart-sprayed'), WRONG, from(attacker)), 'IP before the restart');
    assertThrottled(await login(first, target, WRONG, from(freshIp())), 'account before the restart');

    await first.stop();
    const second = await startServer({ ...settings, DATA_DIR: first.dataDir });
    t.after(() => second.stop());

    assertThrottled(await login(second, uniqueAddress('restart-sprayed'), WRONG, from(attacker)), 'IP after the restart');
    const delayed = assertThrottled(await login(second, target, WRONG, from(freshIp())), 'account after the restart');
    assert.ok(delayed > 1, `the account still waits out its delay (Retry-After ${delayed})`);
    assert.ok(delayed <= 60, `the delay is at most the 60 s cap (Retry-After ${delayed})`);
    assertStatus(await login(second, uniqueAddress('restart-sprayed'), WRONG, from(freshIp())), 401, 'another IP and username');
  });

  test('forged X-Forwarded-For ignored without TRUSTED_PROXIES', async (t) => {
    const server = await startServer({ TRUSTED_PROXIES: '', THROTTLE_FAILURES_PER_IP: '3' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('forged'));

    // Every request claims another client; all come from 127.0.0.1, which is what counts.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      assertStatus(await login(server, uniqueAddress('forged-sprayed'), WRONG, from(freshIp())), 401, `failure ${attempt}`);
    }
    assertThrottled(await login(server, uniqueAddress('forged-sprayed'), WRONG, from(freshIp())), 'fourth failure, another forged IP');
    assertThrottled(await login(server, account.email, account.password, from(freshIp())), 'right password, another forged IP');
    assertThrottled(await login(server, account.email, account.password), 'right password without the header');
  });

  test('rightmost untrusted address counts', async (t) => {
    const server = await startServer({ TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8', THROTTLE_FAILURES_PER_IP: '2' });
    t.after(() => server.stop());
    const client = freshIp();

    // The client forges the leftmost entries; the proxy 10.1.2.3 appended the address it saw, and the
    // server believes only the entries that trusted proxies wrote.
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const chain = { 'X-Forwarded-For': `${freshIp()}, ${client}, 10.1.2.3` };
      assertStatus(await login(server, uniqueAddress('chain'), WRONG, chain), 401, `failure ${attempt}`);
    }
    const forgedAgain = { 'X-Forwarded-For': `${freshIp()}, ${freshIp()}, ${client}, 10.1.2.3` };
    assertThrottled(await login(server, uniqueAddress('chain'), WRONG, forgedAgain), 'third failure with other forged entries');
    assertThrottled(await login(server, uniqueAddress('chain'), WRONG, { 'X-Forwarded-For': client }), 'the client without the proxy');

    const otherClient = { 'X-Forwarded-For': `${client}, ${freshIp()}, 10.1.2.3` };
    assertStatus(await login(server, uniqueAddress('chain'), WRONG, otherClient), 401, 'another client behind the proxy');
  });

  test('IPv6 counts per /64', () => {
    assert.equal(clientAddressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(clientAddressKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
    assert.equal(clientAddressKey('2001:DB8:0001:0002:ffff::1'), '2001:db8:1:2::/64');
    assert.equal(clientAddressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientAddressKey('::1'), '0:0:0:0::/64');
    assert.equal(clientAddressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientAddressKey('192.0.2.7'), '192.0.2.7');
  });
});

describe('throttle settings', () => {
  test('defaults with an empty environment', () => {
    const config = loadConfig({});

    assert.deepEqual(config.throttle, {
      enabled: true,
      failuresPerIp: 100,
      failuresWindowSeconds: 900,
      failuresPerAccount: 10,
      accountDelaySeconds: 1,
      accountMaxDelaySeconds: 900,
      accountWindowSeconds: 3600,
      createPerIp: 30,
      createPerAddress: 5,
      createWindowSeconds: 3600,
      resetPerIp: 30,
      resetPerAddress: 5,
      resetWindowSeconds: 3600,
    });
    assert.equal(config.redisUrl, null);
    assert.equal(config.redisKeyPrefix, 'sigma-accounts:throttle:');
    assert.ok(Object.isFrozen(config.throttle), 'the throttle settings are frozen');
  });

  test('invalid values are rejected', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ THROTTLE: 'maybe' }, /^THROTTLE must be on or off$/],
      [{ THROTTLE_FAILURES_PER_IP: '0' }, /^THROTTLE_FAILURES_PER_IP must be a whole number/],
      [{ THROTTLE_ACCOUNT_DELAY_SECONDS: '10', THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '5' }, /MAX_DELAY_SECONDS must be at least THROTTLE_ACCOUNT_DELAY_SECONDS/],
      [{ THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '900', THROTTLE_ACCOUNT_WINDOW_SECONDS: '600' }, /WINDOW_SECONDS must be at least THROTTLE_ACCOUNT_MAX_DELAY_SECONDS/],
      [{ REDIS_URL: 'http://user:secret@127.0.0.1:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ REDIS_URL: 'redis://' }, /^REDIS_URL must be/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }

    assert.throws(() => loadConfig({ REDIS_URL: 'http://user:secret@127.0.0.1:6379' }), (error: unknown) => !String(error).includes('secret'));
  });

  test('off and Redis settings are taken', () => {
    const config = loadConfig({ THROTTLE: 'off', REDIS_URL: 'rediss://:secret@redis.example.com:6380/2', REDIS_KEY_PREFIX: 'eu1:' });

    assert.equal(config.throttle.enabled, false);
    assert.equal(config.redisUrl, 'rediss://:secret@redis.example.com:6380/2');
    assert.equal(config.redisKeyPrefix, 'eu1:');
  });
});

describe('throttle store', () => {
  const NOW = 1_900_000_000_000;
  let dataDir: string;
  let store: Store;

  before(async () => {
    dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    store = await openStore(databaseUrlFor(dataDir));
  });

  after(async () => {
    await store.close();
  });

  test('fixed and sliding windows', async () => {
    await storeContract(store.throttle, `contract-${randomBytes(4).toString('hex')}:`, NOW);
  });

  test('expired entries start again', async () => {
    const prefix = `expired-${randomBytes(4).toString('hex')}:`;
    await store.throttle.hit(`${prefix}counter`, NOW, NOW + 1000, false);
    await store.throttle.hit(`${prefix}counter`, NOW, NOW + 1000, false);
    assert.equal(await store.throttle.peek(`${prefix}counter`, NOW + 1000), null, 'an expired counter reads as missing');
    assert.deepEqual(await store.throttle.hit(`${prefix}counter`, NOW + 2000, NOW + 5000, false), { count: 1, expiresAt: NOW + 5000 });

    await store.throttle.hold(`${prefix}hold`, NOW, NOW + 1000);
    assert.equal(await store.throttle.hold(`${prefix}hold`, NOW + 1000, NOW + 3000), null, 'an expired hold is free');
    await store.throttle.unhit(`${prefix}counter`, NOW + 6000);
    assert.deepEqual(await store.throttle.peek(`${prefix}counter`, NOW + 2000), { count: 1, expiresAt: NOW + 5000 }, 'unhit leaves an expired counter alone');
  });

  test('sweep deletes expired rows', async () => {
    const prefix = `sweep-${randomBytes(4).toString('hex')}:`;
    await store.throttle.hit(`${prefix}old`, NOW, NOW + 1000, false);
    await store.throttle.hold(`${prefix}old-hold`, NOW, NOW + 1000);
    await store.throttle.hit(`${prefix}live`, NOW, NOW + 5000, false);

    const deleted = await store.throttle.sweep(NOW + 2000);
    assert.ok(deleted >= 2, `deleted ${deleted} rows`);
    assert.equal(await store.throttle.peek(`${prefix}old`, NOW), null, 'the expired counter is gone, even read with an earlier time');
    assert.equal(await store.throttle.peek(`${prefix}old-hold`, NOW), null, 'the expired hold is gone');
    assert.deepEqual(await store.throttle.peek(`${prefix}live`, NOW + 2000), { count: 1, expiresAt: NOW + 5000 });
  });
});

/**
 * Checks the ThrottleStore contract with every call at one time `now`, because Redis expires keys by its own
 * clock; every key starts with `prefix`. Expiry times may be off by Redis's rounding, hence the tolerance.
 */
async function storeContract(counters: ThrottleStore, prefix: string, now: number): Promise<void> {
  const near = (actual: number | null | undefined, expected: number, label: string) => {
    assert.equal(typeof actual, 'number', `${label}: ${actual} is a time`);
    assert.ok(Math.abs(Number(actual) - expected) < 1000, `${label}: ${actual} is not near ${expected}`);
  };

  const fixed = `${prefix}fixed`;
  const first = await counters.hit(fixed, now, now + 10_000, false);
  assert.equal(first.count, 1);
  near(first.expiresAt, now + 10_000, 'the first hit sets the expiry');
  const second = await counters.hit(fixed, now, now + 20_000, false);
  assert.equal(second.count, 2);
  near(second.expiresAt, now + 10_000, 'a fixed window keeps the expiry of its first hit');

  await counters.unhit(fixed, now);
  assert.equal((await counters.peek(fixed, now))?.count, 1, 'unhit takes one back');
  await counters.unhit(fixed, now);
  await counters.unhit(fixed, now);
  assert.equal((await counters.peek(fixed, now))?.count, 0, 'unhit stops at zero');

  const sliding = `${prefix}sliding`;
  await counters.hit(sliding, now, now + 10_000, true);
  const moved = await counters.hit(sliding, now, now + 20_000, true);
  assert.equal(moved.count, 2);
  near(moved.expiresAt, now + 20_000, 'a sliding window moves its expiry');

  const hold = `${prefix}hold`;
  assert.equal(await counters.hold(hold, now, now + 10_000), null, 'a free key is held');
  near(await counters.hold(hold, now, now + 20_000), now + 10_000, 'a held key returns the end of its hold');
  await counters.extendHold(hold, now, now + 30_000);
  near(await counters.hold(hold, now, now + 2000), now + 30_000, 'extendHold moves the end');
  await counters.extendHold(hold, now, now + 5000);
  near(await counters.hold(hold, now, now + 2000), now + 30_000, 'extendHold never shortens a hold');

  await counters.clear([fixed, sliding, hold]);
  assert.equal(await counters.peek(fixed, now), null, 'a cleared counter is gone');
  assert.equal(await counters.peek(sliding, now), null, 'a cleared sliding counter is gone');
  assert.equal(await counters.hold(hold, now, now + 1000), null, 'a cleared hold is free');
  await counters.clear([hold]);
}

describe('Redis counters', () => {
  const prefix = `sigma-accounts-test:${process.pid}:${randomBytes(6).toString('hex')}:`;
  let redis: Redis | null = null;
  let skip: string | false = false;

  before(async () => {
    const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      redis = probe;
    } catch {
      probe.disconnect();
      if (process.env.REQUIRE_REDIS) throw new Error(`Redis at ${REDIS_URL} does not answer, and REQUIRE_REDIS is set`);
      skip = `Redis at ${REDIS_URL} does not answer (start redis-server, or set REQUIRE_REDIS=1 to fail instead)`;
    }
  });

  after(async () => {
    if (!redis) return;
    // Only the keys of this run: the prefix contains the process id and random bytes.
    let cursor = '0';
    for (let round = 0; round < 1000; round += 1) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    await redis.quit();
  });

  test('store contract on Redis', async (t) => {
    if (skip) return t.skip(skip);
    const counters = new RedisThrottleStore(REDIS_URL, prefix, createLogger('silent'));
    t.after(() => counters.close());
    assert.ok(await counters.connect(), 'connected');

    await storeContract(counters, 'contract:', Date.now());

    const now = Date.now();
    await counters.hit('short', now, now + 50, false);
    await sleep(150);
    assert.equal(await counters.peek('short', Date.now()), null, 'Redis expires the key');
    assert.equal((await counters.hit('short', Date.now(), Date.now() + 10_000, false)).count, 1, 'an expired counter starts again');
  });

  test('limits shared by two servers', async (t) => {
    if (skip) return t.skip(skip);
    const settings = {
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      THROTTLE_FAILURES_PER_IP: '4',
      THROTTLE_FAILURES_PER_ACCOUNT: '2',
      THROTTLE_ACCOUNT_DELAY_SECONDS: '60',
      THROTTLE_ACCOUNT_MAX_DELAY_SECONDS: '60',
      THROTTLE_CREATE_PER_ADDRESS: '2',
    };
    // Each server has a database of its own, so whatever they share goes through Redis.
    const a = await startServer(settings);
    t.after(() => a.stop());
    const b = await startServer(settings);
    t.after(() => b.stop());

    const attacker = freshIp();
    assertStatus(await login(a, uniqueAddress('redis-sprayed'), WRONG, from(attacker)), 401, 'failure 1 on A');
    assertStatus(await login(b, uniqueAddress('redis-sprayed'), WRONG, from(attacker)), 401, 'failure 2 on B');
    assertStatus(await login(a, uniqueAddress('redis-sprayed'), WRONG, from(attacker)), 401, 'failure 3 on A');
    assertStatus(await login(b, uniqueAddress('redis-sprayed'), WRONG, from(attacker)), 401, 'failure 4 on B');
    assertThrottled(await login(a, uniqueAddress('redis-sprayed'), WRONG, from(attacker)), 'IP on A');
    assertThrottled(await login(b, uniqueAddress('redis-sprayed'), WRONG, from(attacker)), 'IP on B');

    const target = uniqueAddress('redis-target');
    assertStatus(await login(a, target, WRONG, from(freshIp())), 401, 'account failure 1 on A');
    assertStatus(await login(b, target, WRONG, from(freshIp())), 401, 'account failure 2 on B');
    assertThrottled(await login(a, target, WRONG, from(freshIp())), 'account on A');
    assertThrottled(await login(b, target, WRONG, from(freshIp())), 'account on B');

    const address = uniqueAddress('redis-create');
    assertStatus(await action(a.url, 'create', { body: { email: address }, headers: from(freshIp()) }), 200, 'sign-up 1 on A');
    assertStatus(await action(b.url, 'create', { body: { email: address }, headers: from(freshIp()) }), 200, 'sign-up 2 on B');
    assertThrottled(await action(a.url, 'create', { body: { email: address }, headers: from(freshIp()) }), 'sign-up 3 on A');

    const keys = (await redis?.keys(`${prefix}*`)) ?? [];
    assert.ok(keys.length > 0, 'the counters are in Redis under the prefix');
  });

  test('unreachable Redis fails open', async (t) => {
    const closedPort = await freePort();
    const server = await startServer({ REDIS_URL: `redis://127.0.0.1:${closedPort}`, THROTTLE_FAILURES_PER_IP: '1' });
    t.after(() => server.stop());
    const account = await activeAccount(server.url, smtp, uniqueAddress('fail-open'));
    const client = freshIp();

    assertStatus(await login(server, account.email, WRONG, from(client)), 401, 'a wrong password is still checked');
    assertStatus(await login(server, account.email, WRONG, from(client)), 401, 'past the limit, nothing is counted');
    assertStatus(await login(server, account.email, account.password, from(client)), 200, 'the right password works');

    const warnings = server.logLines.filter((line) => /Redis is (unavailable|not reachable)/.test(line));
    assert.ok(warnings.length >= 1, 'the outage is logged');
    assert.ok(warnings.length <= 3, `the outage is not logged per request (${warnings.length} lines)`);
    assert.ok(warnings.every((line) => !line.includes('"level":30')), 'logged as warnings');
  });
});

/** Returns a 429's body with its numbers of seconds left out, to compare two 429s made at different times. */
function withoutSeconds(response: ApiResponse): string {
  return response.text.replace(/\d+ seconds/g, 'N seconds');
}
