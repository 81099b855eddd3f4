import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ConfigError, loadConfig } from '../src/config.js';
import { activeAccount, PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, request } from './helpers/client.js';
import { waitUntil } from './helpers/outbox.js';
import { parseExposition, PROMETHEUS_TYPE, type Sample, scrape, valueOf } from './helpers/prometheus.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { testStore } from './helpers/store.js';
import { STEP_MS, totp } from './helpers/totp.js';

const TOKEN = 'metrics-token-for-tests-0123456789abcdef';
const ACTION_ROUTE = '/api/2.0/accounts/action/';
function requestCount(samples: Sample[], route: string, action: string, method: string, status: number): number {
  return valueOf(samples, 'sigma_accounts_http_request_duration_seconds_count', { route, action, method, status: String(status) }) ?? 0;
}

function loginCount(samples: Sample[], action: string, outcome: string): number | undefined {
  return valueOf(samples, 'sigma_accounts_login_attempts_total', { action, outcome });
}

describe('metrics settings', () => {
  const base = { DATA_DIR: '/tmp/sigma-accounts-metrics-config' };

  test('no metrics endpoint by default', () => {
    const config = loadConfig(base);
    assert.equal(config.metrics.port, null);
    assert.equal(config.metrics.token, null);
    assert.equal(config.metrics.host, '127.0.0.1');
  });

  test('settings are read', () => {
    const config = loadConfig({ ...base, METRICS_PORT: '9464', METRICS_HOST: '::1', METRICS_TOKEN: TOKEN });
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.metrics.host, '::1');
    assert.equal(config.metrics.token, TOKEN);
    assert.ok(Object.isFrozen(config.metrics));
  });

  test('bad values are rejected', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ METRICS_PORT: '65536' }, /^METRICS_PORT must be a whole number/],
      [{ METRICS_PORT: 'nine' }, /^METRICS_PORT must be a whole number/],
      [{ PORT: '8080', METRICS_PORT: '8080' }, /^METRICS_PORT must differ from PORT/],
      [{ METRICS_HOST: 'not a host' }, /^METRICS_HOST must be an IP address/],
      [{ METRICS_TOKEN: 'short-token' }, /^METRICS_TOKEN must be at least 32 characters/],
      [{ METRICS_TOKEN: `${TOKEN} with spaces` }, /^METRICS_TOKEN must be at least 32 characters/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig({ ...base, ...env }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
  });

  test('token stays out of the error message', () => {
    const secret = 'x'.repeat(20);
    assert.throws(() => loadConfig({ ...base, METRICS_TOKEN: secret }), (error: unknown) => error instanceof Error && !error.message.includes(secret));
  });
});

describe('metrics listener on METRICS_PORT', () => {
  let smtp: SmtpSink;
  let server: TestServer;
  let metricsUrl: string;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start(), METRICS_PORT: '0' });
    assert.ok(server.metricsUrl, 'the server reports the metrics URL');
    metricsUrl = `${server.metricsUrl}/metrics`;
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('text is well-formed Prometheus exposition', async () => {
    const response = await request(metricsUrl, { method: 'GET' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), PROMETHEUS_TYPE);

    const lines = response.text.split('\n');
    assert.ok(lines.some((line) => line.startsWith('# HELP sigma_accounts_http_request_duration_seconds ')));
    assert.ok(lines.includes('# TYPE sigma_accounts_http_request_duration_seconds histogram'));
    assert.ok(lines.includes('# TYPE sigma_accounts_login_attempts_total counter'));
    assert.ok(parseExposition(response.text).length > 0);
  });

  test('requests counted by route and status', async () => {
    const before = await scrape(metricsUrl);
    const live = await request(`${server.url}/health/live`, { method: 'GET' });
    assert.equal(live.status, 200);
    const unknown = await request(`${server.url}/no/such/someone@example.com`, { method: 'GET' });
    assert.equal(unknown.status, 404);
    const unknownAction = await action(server.url, 'no_such_action');
    assert.equal(unknownAction.status, 400);
    const noAction = await request(`${server.url}${ACTION_ROUTE}`, { body: {} });
    assert.equal(noAction.status, 400);

    const response = await request(metricsUrl, { method: 'GET' });
    const after = parseExposition(response.text);
    assert.equal(requestCount(after, '/health/live', '', 'GET', 200) - requestCount(before, '/health/live', '', 'GET', 200), 1);
    assert.equal(requestCount(after, '(no route)', '', 'GET', 404) - requestCount(before, '(no route)', '', 'GET', 404), 1);
    assert.equal(requestCount(after, ACTION_ROUTE, '(unknown)', 'POST', 400) - requestCount(before, ACTION_ROUTE, '(unknown)', 'POST', 400), 2);
    assert.ok(!response.text.includes('example.com'), 'no path reaches a label');
    assert.ok(!response.text.includes('no_such_action'), 'no unknown action reaches a label');

    const buckets = after.filter((sample) => sample.name === 'sigma_accounts_http_request_duration_seconds_bucket' && sample.labels.route === '/health/live' && sample.labels.status === '200');
    assert.ok(buckets.length > 1, 'the histogram has buckets');
    assert.deepEqual(Object.keys(buckets[0]?.labels ?? {}).sort(), ['action', 'le', 'method', 'route', 'status']);
    assert.equal(buckets.find((sample) => sample.labels.le === '+Inf')?.value, requestCount(after, '/health/live', '', 'GET', 200));
  });

  test('failed and successful logins counted', async () => {
    const account = await activeAccount(server.url, smtp);
    const before = await scrape(metricsUrl);

    const failed = await action(server.url, 'login', { body: { username: account.email, password: 'not the password at all' } });
    assert.equal(failed.status, 401);
    const succeeded = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assert.equal(succeeded.status, 200);
    const invalid = await action(server.url, 'login', { body: { username: account.email } });
    assert.equal(invalid.status, 400);

    const after = await scrape(metricsUrl);
    assert.equal((loginCount(after, 'login', 'failure') ?? 0) - (loginCount(before, 'login', 'failure') ?? 0), 1);
    assert.equal((loginCount(after, 'login', 'success') ?? 0) - (loginCount(before, 'login', 'success') ?? 0), 1);
    assert.equal((loginCount(after, 'login', 'rejected') ?? 0) - (loginCount(before, 'login', 'rejected') ?? 0), 1);
    assert.equal(loginCount(after, 'login', 'throttled'), 0);
    assert.equal(requestCount(after, ACTION_ROUTE, 'login', 'POST', 401) - requestCount(before, ACTION_ROUTE, 'login', 'POST', 401), 1);
    assert.equal(requestCount(after, ACTION_ROUTE, 'login', 'POST', 200) - requestCount(before, ACTION_ROUTE, 'login', 'POST', 200), 1);
  });

  test('two-factor login and verify_otp counted', async () => {
    const account = await activeAccount(server.url, smtp);
    const headers = { 'X-CSRFToken': account.cookies.csrftoken ?? '' };
    const setup = await action(server.url, 'otp_setup', { cookies: account.cookies, headers });
    assert.equal(setup.status, 200, setup.text);
    const { secret } = setup.body as { secret: string };
    const enabled = await action(server.url, 'otp_enable', { body: { password: PASSWORD }, cookies: account.cookies, headers: { ...headers, OTP: totp(secret) } });
    assert.equal(enabled.status, 200, enabled.text);
    const before = await scrape(metricsUrl);

    const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assert.equal(login.status, 200, login.text);
    const cookies = { sessionid: login.cookies.sessionid?.value ?? '', csrftoken: login.cookies.csrftoken?.value ?? '' };
    const otpHeaders = { 'X-CSRFToken': cookies.csrftoken };
    const wrong = totp(secret, Date.now() + 10 * STEP_MS);
    const rejected = await action(server.url, 'verify_otp', { cookies, headers: { ...otpHeaders, OTP: wrong } });
    assert.equal(rejected.status, 401, rejected.text);
    const verified = await action(server.url, 'verify_otp', { cookies, headers: { ...otpHeaders, OTP: totp(secret, Date.now() + STEP_MS) } });
    assert.equal(verified.status, 200, verified.text);

    const after = await scrape(metricsUrl);
    assert.equal((loginCount(after, 'login', 'second_factor_pending') ?? 0) - (loginCount(before, 'login', 'second_factor_pending') ?? 0), 1);
    assert.equal((loginCount(after, 'login', 'success') ?? 0) - (loginCount(before, 'login', 'success') ?? 0), 0);
    assert.equal((loginCount(after, 'verify_otp', 'failure') ?? 0) - (loginCount(before, 'verify_otp', 'failure') ?? 0), 1);
    assert.equal((loginCount(after, 'verify_otp', 'success') ?? 0) - (loginCount(before, 'verify_otp', 'success') ?? 0), 1);
  });

  test('hash, outbox and mail metrics present', async () => {
    await activeAccount(server.url, smtp);
    const samples = await scrape(metricsUrl);

    assert.equal(valueOf(samples, 'sigma_accounts_password_hash_queue_length'), 0);
    assert.equal(valueOf(samples, 'sigma_accounts_password_hashes_active'), 0);
    assert.ok((valueOf(samples, 'sigma_accounts_password_hash_duration_seconds_count') ?? 0) >= 1, 'the confirmation hashed a password');
    assert.equal(valueOf(samples, 'sigma_accounts_outbox_messages', { state: 'failed' }), 0);
    assert.equal(typeof valueOf(samples, 'sigma_accounts_outbox_messages', { state: 'queued' }), 'number');
    assert.ok((valueOf(samples, 'sigma_accounts_mail_delivery_attempts_total', { result: 'sent' }) ?? 0) >= 1, 'the sign-up mail was sent');
    assert.equal(valueOf(samples, 'sigma_accounts_mail_delivery_attempts_total', { result: 'given_up' }), 0);
    assert.equal(typeof valueOf(samples, 'nodejs_eventloop_lag_seconds'), 'number');
  });

  test('outbox gauge counts queued mail', async () => {
    smtp.refusing = true;
    try {
      const email = uniqueAddress('metrics-outbox');
      const created = await action(server.url, 'create', { body: { email } });
      assert.equal(created.status, 200, created.text);
      // The worker counts the attempt after it has recorded the failure in the outbox.
      const retries = async () => valueOf(await scrape(metricsUrl), 'sigma_accounts_mail_delivery_attempts_total', { result: 'retry' }) ?? 0;
      await waitUntil(async () => (await retries()) >= 1, 'the worker counted the rejected delivery');

      const samples = await scrape(metricsUrl);
      assert.ok((valueOf(samples, 'sigma_accounts_outbox_messages', { state: 'queued' }) ?? 0) >= 1, 'the rejected message waits for a retry');
      assert.equal(valueOf(samples, 'sigma_accounts_outbox_messages', { state: 'failed' }), 0);
    } finally {
      smtp.refusing = false;
    }
  });

  test('pool gauges only on PostgreSQL', async () => {
    const samples = await scrape(metricsUrl);
    const idle = valueOf(samples, 'sigma_accounts_database_pool_connections', { state: 'idle' });

    if (testStore() === 'postgres') {
      assert.equal(typeof idle, 'number');
      assert.equal(typeof valueOf(samples, 'sigma_accounts_database_pool_connections', { state: 'in_use' }), 'number');
      // The outbox count of the same scrape may itself wait for a new connection, so the value is not fixed.
      assert.equal(typeof valueOf(samples, 'sigma_accounts_database_pool_waiting_requests'), 'number');
      assert.equal(valueOf(samples, 'sigma_accounts_database_pool_max_connections'), 10);
    } else {
      assert.equal(idle, undefined);
      assert.ok(!samples.some((sample) => sample.name.startsWith('sigma_accounts_database_pool_')));
    }
  });

  test('listener serves only GET /metrics', async () => {
    const other = await request(`${server.metricsUrl}/`, { method: 'GET' });
    assert.equal(other.status, 404);
    const posted = await request(metricsUrl, { method: 'POST', raw: '' });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get('allow'), 'GET, HEAD');
    const head = await request(metricsUrl, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  test('public listener has no /metrics without METRICS_TOKEN', async () => {
    const response = await request(`${server.url}/metrics`, { method: 'GET' });
    assert.equal(response.status, 404);
    const withToken = await request(`${server.url}/metrics`, { method: 'GET', headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(withToken.status, 404);
  });
});

describe('metrics with METRICS_TOKEN', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ METRICS_TOKEN: TOKEN, THROTTLE_RESET_PER_ADDRESS: '1', MAIL_THROTTLE_SECONDS: '0' });
  });

  after(async () => {
    await server.stop();
  });

  test('no metrics listener without METRICS_PORT', () => {
    assert.equal(server.metricsUrl, null);
  });

  test('public /metrics needs the token', async () => {
    const url = `${server.url}/metrics`;
    const missing = await request(url, { method: 'GET' });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    const wrong = await request(url, { method: 'GET', headers: { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` } });
    assert.equal(wrong.status, 401);
    const shorter = await request(url, { method: 'GET', headers: { Authorization: `Bearer ${TOKEN.slice(0, -1)}` } });
    assert.equal(shorter.status, 401);
    const basic = await request(url, { method: 'GET', headers: { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    assert.equal(basic.status, 401);

    const samples = await scrape(url, { Authorization: `Bearer ${TOKEN}` });
    assert.ok(samples.some((sample) => sample.name === 'sigma_accounts_http_request_duration_seconds_count'));
    const lowerCaseScheme = await request(url, { method: 'GET', headers: { Authorization: `bearer ${TOKEN}` } });
    assert.equal(lowerCaseScheme.status, 200);
  });

  test('throttled requests counted by limit', async () => {
    const email = uniqueAddress('metrics-throttle');
    const first = await action(server.url, 'request_password_reset', { body: { email } });
    assert.equal(first.status, 200, first.text);
    const second = await action(server.url, 'request_password_reset', { body: { email } });
    assert.equal(second.status, 429, second.text);

    const samples = await scrape(`${server.url}/metrics`, { Authorization: `Bearer ${TOKEN}` });
    assert.equal(valueOf(samples, 'sigma_accounts_throttled_requests_total', { limit: 'reset_per_address' }), 1);
    assert.equal(valueOf(samples, 'sigma_accounts_throttled_requests_total', { limit: 'reset_per_ip' }), 0);
    assert.equal(requestCount(samples, ACTION_ROUTE, 'request_password_reset', 'POST', 429), 1);
  });
});

describe('metrics listener with METRICS_TOKEN', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
  });

  after(async () => {
    await server.stop();
  });

  test('listener needs the token too', async () => {
    const url = `${server.metricsUrl}/metrics`;
    const missing = await request(url, { method: 'GET' });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    const wrong = await request(url, { method: 'GET', headers: { Authorization: 'Bearer wrong' } });
    assert.equal(wrong.status, 401);

    await scrape(url, { Authorization: `Bearer ${TOKEN}` });
  });
});
