import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, request } from './helpers/client.js';
import { waitUntil } from './helpers/outbox.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';

interface LogEntry {
  msg?: string;
  reqId?: string;
  statusCode?: number;
  method?: string;
  path?: string;
  action?: string;
}

describe('request logs', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ SMTP_URL: smtpUrl, LOG_LEVEL: 'trace' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('client abort is not a store outage', async () => {
    const marker = server.logLines.length;
    const { port } = new URL(server.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // The headers promise a body that never comes; then the client goes away.
    socket.write('POST /api/2.0/accounts/action/?do=create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email"');
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();

    await waitUntil(() => server.logLines.slice(marker).some((line) => line.includes('request completed') || line.includes('request rejected')), 'the aborted request is logged');
    const lines = server.logLines.slice(marker);
    assert.ok(!lines.some((line) => line.includes('store unavailable')), lines.join('\n'));
  });

  test('whole flow leaks no secret and logs each request once', async () => {
    const email = uniqueAddress('logging');
    const responses: ApiResponse[] = [];
    const send = async (response: Promise<ApiResponse>): Promise<ApiResponse> => {
      const settled = await response;
      responses.push(settled);
      return settled;
    };

    const created = await send(action(server.url, 'create', { body: { email } }));
    assert.equal(created.status, 200);
    const [mail] = await smtp.waitFor(email);
    assert.ok(mail);
    const link = confirmationLinkIn(mail);
    const token = tokenOf(link);

    const page = await send(request(link.replace(/^https?:\/\/[^/]+/, server.url), { method: 'GET', headers: { Accept: 'text/html' } }));
    assert.equal(page.status, 200);

    const rejectedPassword = 'Rejected-Password-For-Policy';
    const weak = await send(action(server.url, 'confirm', { body: { token, password: 'short' } }));
    assert.equal(weak.status, 400);
    const common = await send(action(server.url, 'confirm', { body: { token, password: 'password1234' } }));
    assert.equal(common.status, 400);

    const confirmed = await send(action(server.url, 'confirm', { body: { token, password: PASSWORD } }));
    assert.equal(confirmed.status, 200);
    const confirmSessionId = confirmed.cookies.sessionid?.value ?? '';
    const confirmCsrfToken = confirmed.cookies.csrftoken?.value ?? '';

    const reused = await send(action(server.url, 'confirm', { body: { token, password: rejectedPassword } }));
    assert.equal(reused.status, 400);

    const login = await send(action(server.url, 'login', { body: { username: email, password: PASSWORD } }));
    assert.equal(login.status, 200);
    const sessionId = login.cookies.sessionid?.value ?? '';
    const csrfToken = login.cookies.csrftoken?.value ?? '';
    assert.ok(sessionId, 'login set a sessionid cookie');
    assert.ok(csrfToken, 'login set a csrftoken cookie');
    const cookies = { sessionid: sessionId, csrftoken: csrfToken };

    const checked = await send(action(server.url, 'check_login', { cookies }));
    assert.equal(checked.status, 200);

    const wrongCsrf = await send(action(server.url, 'logout', { cookies, headers: { 'X-CSRFToken': confirmCsrfToken } }));
    assert.equal(wrongCsrf.status, 403);
    const logout = await send(action(server.url, 'logout', { cookies, headers: { 'X-CSRFToken': csrfToken } }));
    assert.equal(logout.status, 200);

    const wrongPassword = 'Wrong-Password-Never-Logged';
    const failedLogin = await send(action(server.url, 'login', { body: { username: email, password: wrongPassword } }));
    assert.equal(failedLogin.status, 401);

    const basic = Buffer.from(`${email}:${PASSWORD}`, 'utf8').toString('base64');
    const byBasic = await send(action(server.url, 'check_login_with_return_uuid', { headers: { Authorization: `Basic ${basic}` } }));
    assert.equal(byBasic.status, 200);
    const wrongBasic = Buffer.from(`${email}:${wrongPassword}`, 'utf8').toString('base64');
    const byWrongBasic = await send(action(server.url, 'check_login', { headers: { Authorization: `Basic ${wrongBasic}` } }));
    assert.equal(byWrongBasic.status, 401);

    const badEmail = `${email}>`;
    const rejectedCreate = await send(action(server.url, 'create', { body: { email: badEmail } }));
    assert.equal(rejectedCreate.status, 400);

    const wrongMethod = await send(request(`${server.url}/api/2.0/accounts/action/?do=login`, { method: 'GET' }));
    assert.equal(wrongMethod.status, 405);
    const unknownPath = await send(request(`${server.url}/api/2.0/no-such-resource/`, { method: 'GET' }));
    assert.equal(unknownPath.status, 404);

    await waitUntil(
      () => completedLines(server).length >= responses.length,
      `${responses.length} "request completed" lines are written`,
      5000,
    );

    const secrets: Record<string, string> = {
      password: PASSWORD,
      'rejected password': rejectedPassword,
      'wrong password': wrongPassword,
      'confirmation token': token,
      'session id from confirm': confirmSessionId,
      'CSRF token from confirm': confirmCsrfToken,
      'session id from login': sessionId,
      'CSRF token from login': csrfToken,
      'Basic credentials': basic,
      'wrong Basic credentials': wrongBasic,
      'email address': email,
      'local part of the email address': email.slice(0, email.indexOf('@')),
    };
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(secret.length > 0, `${name} is known`);
      const leaks = server.logLines.filter((line) => line.includes(secret));
      assert.deepEqual(leaks, [], `log lines containing the ${name}`);
    }

    const completed = completedLines(server);
    assert.equal(completed.length, responses.length, 'one "request completed" line per request');
    for (const response of responses) {
      const requestId = response.headers.get('x-request-id');
      assert.ok(requestId, `response ${response.status} has X-REQUEST-ID`);

      const lines = completed.filter((entry) => entry.reqId === requestId);
      assert.equal(lines.length, 1, `"request completed" lines for request ${requestId}`);
      assert.equal(lines[0]?.statusCode, response.status, `status logged for request ${requestId}`);
    }
  });
});

function completedLines(server: TestServer): LogEntry[] {
  return server.logLines.map((line) => JSON.parse(line) as LogEntry).filter((entry) => entry.msg === 'request completed');
}
