import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { action, errorList, request } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { sqlRows } from './helpers/store.js';

describe('account flow from create to logout', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    const smtpUrl = await smtp.start();
    server = await startTestServer({ SMTP_URL: smtpUrl, PUBLIC_URL: 'http://accounts.test:8080' });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('whole flow over SMTP', async () => {
    const email = uniqueAddress('flow');
    await sqlRows(server.dataDir, 'INSERT INTO promo_codes (code, created_at) VALUES (?, ?)', ['SPRING', Date.now()]);

    const created = await action(server.url, 'create', { body: { email, promo: 'SPRING' } });
    assert.equal(created.status, 200);
    const { success, uuid } = created.body as { success: boolean; uuid: string };
    assert.equal(success, true);
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(created.headers.get('x-request-id'));

    const [mail] = await smtp.waitFor(email);
    assert.ok(mail);
    assert.ok(mail.html, 'mail has an HTML part');
    assert.ok(mail.text, 'mail has a plain-text part');
    const link = confirmationLinkIn(mail);
    assert.ok(link.startsWith('http://accounts.test:8080/accounts/confirm/?token='), link);

    const pageUrl = link.replace('http://accounts.test:8080', server.url);
    const page = await request(pageUrl, { method: 'GET', headers: { Accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.text, /<form/);
    assert.match(page.text, /type="password"/);

    const confirmed = await action(server.url, 'confirm', { body: { token: tokenOf(link), password: PASSWORD } });
    assert.equal(confirmed.status, 200);
    assert.deepEqual(confirmed.body, { uuid });
    assert.ok(confirmed.cookies.sessionid?.value);

    const login = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200);
    assert.deepEqual(login.body, { uuid });

    const session = login.cookies.sessionid;
    const csrf = login.cookies.csrftoken;
    assert.ok(session, 'sessionid cookie set');
    assert.ok(csrf, 'csrftoken cookie set');
    assert.match(session.attributes, /httponly/);
    assert.match(session.attributes, /samesite=lax/);
    assert.match(session.attributes, /path=\//);
    assert.match(session.attributes, /max-age=1209600/);
    assert.doesNotMatch(csrf.attributes, /httponly/);
    assert.match(csrf.attributes, /max-age=31449600/);
    assert.doesNotMatch(session.attributes, /secure/);

    const cookies = { sessionid: session.value, csrftoken: csrf.value };
    const checked = await action(server.url, 'check_login', { cookies });
    assert.equal(checked.status, 200);
    assert.deepEqual(checked.body, {});

    const who = await action(server.url, 'check_login_with_return_uuid', { cookies });
    assert.equal(who.status, 200);
    assert.deepEqual(who.body, { uuid });

    const byBody = await action(server.url, 'check_login_with_return_uuid', { body: { username: email, password: PASSWORD } });
    assert.equal(byBody.status, 200);
    assert.deepEqual(byBody.body, { uuid });

    const logout = await action(server.url, 'logout', { cookies, headers: { 'X-CSRFToken': csrf.value } });
    assert.equal(logout.status, 200);
    assert.deepEqual(logout.body, {});
    assert.equal(logout.cookies.sessionid?.value, '');
    assert.match(logout.cookies.sessionid?.attributes ?? '', /max-age=0/);
    assert.equal(logout.cookies.csrftoken?.value, '');
    assert.match(logout.cookies.csrftoken?.attributes ?? '', /max-age=0/);

    const afterLogout = await action(server.url, 'check_login', { cookies });
    assert.equal(afterLogout.status, 401);
    assert.equal(errorList(afterLogout)[0]?.error_type, 'permission');
    assert.ok(afterLogout.headers.get('www-authenticate'));
  });

  test('login replaces a presented session', async () => {
    const email = uniqueAddress('fixation');
    await action(server.url, 'create', { body: { email } });
    const [mail] = await smtp.waitFor(email);
    assert.ok(mail);
    await action(server.url, 'confirm', { body: { token: tokenOf(confirmationLinkIn(mail)), password: PASSWORD } });

    const first = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    const planted = first.cookies.sessionid?.value ?? '';
    const second = await action(server.url, 'login', { body: { username: email, password: PASSWORD }, cookies: { sessionid: planted } });

    assert.equal(second.status, 200);
    assert.notEqual(second.cookies.sessionid?.value, planted);
    assert.notEqual(second.cookies.csrftoken?.value, first.cookies.csrftoken?.value);
    assert.equal((await action(server.url, 'check_login', { cookies: { sessionid: planted } })).status, 401);
    assert.equal((await action(server.url, 'check_login', { cookies: { sessionid: second.cookies.sessionid?.value ?? '' } })).status, 200);
  });

  test('existing address gets a notice, not a second account', async () => {
    const email = uniqueAddress('existing');
    const first = await action(server.url, 'create', { body: { email } });
    const [mail] = await smtp.waitFor(email);
    assert.ok(mail);
    await action(server.url, 'confirm', { body: { token: tokenOf(confirmationLinkIn(mail)), password: PASSWORD } });

    const again = await startTestServer({ DATA_DIR: server.dataDir, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_THROTTLE_SECONDS: '0' });
    try {
      const second = await action(again.url, 'create', { body: { email: email.toUpperCase() } });
      assert.equal(second.status, 200);
      assert.equal((second.body as { success: boolean }).success, true);
      assert.notEqual((second.body as { uuid: string }).uuid, (first.body as { uuid: string }).uuid);

      const mails = await smtp.waitFor(email, 2);
      assert.match(mails[1]?.text ?? '', /already has an account/);
      assert.doesNotMatch(mails[1]?.text ?? '', /token=/);
    } finally {
      await again.stop();
    }

    const login = await action(server.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200);
  });
});
