import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList, request } from './helpers/client.js';
import { BULK_SIGN_UPS, startTestServer, type TestServer } from './helpers/server.js';
import { confirmationLinkIn, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { countRows, sqlRows } from './helpers/store.js';

interface CodeFields {
  grantsState?: string | null;
  maxUses?: number | null;
  uses?: number;
  expiresAt?: number | null;
  disabledAt?: number | null;
}

interface AccountRow {
  state: string;
  promo: string | null;
  profile_state: string;
  promo_redeemed_at: number | null;
}

/** Returns a new upper-case code, unique to this run. */
function uniqueCode(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`.toUpperCase();
}

/** Asserts a 400 with one validation entry on `promo` whose message matches `message`. */
function assertPromoRejected(response: ApiResponse, message: RegExp): void {
  assert.equal(response.status, 400, response.text);
  const entries = errorList(response);
  assert.equal(entries.length, 1, response.text);
  assert.equal(entries[0]?.error_type, 'validation');
  assert.equal(entries[0]?.error_point, 'promo');
  assert.match(entries[0]?.error_message ?? '', message);
}

describe('promo codes', () => {
  let smtp: SmtpSink;
  let server: TestServer;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ ...BULK_SIGN_UPS, SMTP_URL: await smtp.start() });
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  async function insertCode(code: string, fields: CodeFields = {}): Promise<void> {
    await sqlRows(
      server.dataDir,
      'INSERT INTO promo_codes (code, grants_state, max_uses, uses, expires_at, disabled_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [code, fields.grantsState ?? null, fields.maxUses ?? null, fields.uses ?? 0, fields.expiresAt ?? null, fields.disabledAt ?? null, Date.now()],
    );
  }

  async function usesOf(code: string): Promise<number> {
    const [row] = await sqlRows<{ uses: number }>(server.dataDir, 'SELECT uses FROM promo_codes WHERE code = ?', [code]);
    return Number(row?.uses);
  }

  async function accountRow(uuid: string): Promise<AccountRow> {
    const [row] = await sqlRows<AccountRow>(server.dataDir, 'SELECT state, promo, profile_state, promo_redeemed_at FROM accounts WHERE uuid = ?', [uuid]);
    assert.ok(row, `account ${uuid} exists`);
    return row;
  }

  /** Signs up with a promo code; returns the account uuid and its confirmation token. */
  async function signUpWith(promo: string | null, email = uniqueAddress('promo')): Promise<{ email: string; uuid: string; token: string }> {
    const created = await action(server.url, 'create', { body: { email, promo } });
    assert.equal(created.status, 200, created.text);

    const [mail] = (await smtp.waitFor(email)).slice(-1);
    assert.ok(mail);
    return { email, uuid: (created.body as { uuid: string }).uuid, token: tokenOf(confirmationLinkIn(mail)) };
  }

  async function confirm(token: string): Promise<ApiResponse> {
    return action(server.url, 'confirm', { body: { token, password: PASSWORD } });
  }

  async function accountsWithEmail(email: string): Promise<number> {
    return countRows(server.dataDir, 'SELECT count(*) FROM accounts WHERE email_key = ?', email.toLowerCase());
  }

  describe('checked at create', () => {
    test('unknown code is 400 on promo', async () => {
      const email = uniqueAddress('unknown-code');
      const response = await action(server.url, 'create', { body: { email, promo: uniqueCode('nosuch') } });
      assertPromoRejected(response, /is not a valid promo code/);
      assert.equal(await accountsWithEmail(email), 0, 'no account was created');
    });

    test('disabled code is 400 on promo', async () => {
      const code = uniqueCode('disabled');
      await insertCode(code, { disabledAt: Date.now() - 1000 });

      const email = uniqueAddress('disabled-code');
      assertPromoRejected(await action(server.url, 'create', { body: { email, promo: code } }), /no longer accepted/);
      assert.equal(await accountsWithEmail(email), 0);
    });

    test('expired code is 400 on promo', async () => {
      const code = uniqueCode('expired');
      await insertCode(code, { expiresAt: Date.now() - 1000 });

      const email = uniqueAddress('expired-code');
      assertPromoRejected(await action(server.url, 'create', { body: { email, promo: code } }), /expired at \d{4}-\d{2}-\d{2}T/);
      assert.equal(await accountsWithEmail(email), 0);
    });

    test('used-up code is 400 on promo', async () => {
      const code = uniqueCode('used');
      await insertCode(code, { maxUses: 3, uses: 3 });

      const email = uniqueAddress('used-code');
      assertPromoRejected(await action(server.url, 'create', { body: { email, promo: code } }), /is used up: its limit of 3 uses/);
      assert.equal(await accountsWithEmail(email), 0);
    });

    test('malformed code is 400 on promo', async () => {
      for (const promo of ['has space', 'x'.repeat(10) + '!', 'ÄÖÜ']) {
        const response = await action(server.url, 'create', { body: { email: uniqueAddress('malformed-code'), promo } });
        assertPromoRejected(response, /is not a valid promo code/);
      }
    });

    test('code matches without regard to case', async () => {
      const code = uniqueCode('Summer');
      await insertCode(code, { expiresAt: Date.now() + 3_600_000, maxUses: 10 });

      const { uuid } = await signUpWith(`  ${code.toLowerCase()} `);
      const row = await accountRow(uuid);
      assert.equal(row.promo, code, 'stored in upper case');
      assert.equal(row.promo_redeemed_at, null, 'not redeemed before confirmation');
      assert.equal(await usesOf(code), 0, 'create counts no use');
    });

    test('null or blank promo means none', async () => {
      for (const promo of [null, '', '   ']) {
        const { uuid } = await signUpWith(promo);
        assert.equal((await accountRow(uuid)).promo, null, JSON.stringify(promo));
      }
    });
  });

  describe('redeemed at confirm', () => {
    test('granting code gives TRIAL', async () => {
      const code = uniqueCode('trial');
      await insertCode(code, { grantsState: 'TRIAL' });
      const { email, uuid, token } = await signUpWith(code);

      const confirmed = await confirm(token);
      assert.equal(confirmed.status, 200, confirmed.text);

      const row = await accountRow(uuid);
      assert.equal(row.state, 'active');
      assert.equal(row.profile_state, 'TRIAL');
      assert.notEqual(row.promo_redeemed_at, null, 'redemption time recorded');
      assert.ok(Number(row.promo_redeemed_at) > 0, 'redemption time is a real time');
      assert.equal(await usesOf(code), 1);

      const authorization = `Basic ${Buffer.from(`${email}:${PASSWORD}`).toString('base64')}`;
      const profile = await request(`${server.url}/api/2.0/profile/`, { method: 'GET', headers: { Authorization: authorization } });
      assert.equal(profile.status, 200, profile.text);
      assert.equal((profile.body as { state: string }).state, 'TRIAL');
    });

    test('code without state only counts a use', async () => {
      const code = uniqueCode('plain');
      await insertCode(code, { maxUses: 10 });
      const { uuid, token } = await signUpWith(code);

      assert.equal((await confirm(token)).status, 200);

      const row = await accountRow(uuid);
      assert.equal(row.profile_state, 'NEW_USER');
      assert.ok(row.promo_redeemed_at !== null, 'redemption time recorded');
      assert.equal(await usesOf(code), 1);
    });

    test('account without code redeems nothing', async () => {
      const { uuid, token } = await signUpWith(null);
      assert.equal((await confirm(token)).status, 200);

      const row = await accountRow(uuid);
      assert.equal(row.profile_state, 'NEW_USER');
      assert.equal(row.promo_redeemed_at, null);
    });

    test('code used up before confirm', async () => {
      const code = uniqueCode('last');
      await insertCode(code, { grantsState: 'TRIAL', maxUses: 1 });
      const first = await signUpWith(code);
      const second = await signUpWith(code);

      assert.equal((await confirm(first.token)).status, 200);
      const late = await confirm(second.token);
      assert.equal(late.status, 200, 'confirmation succeeds without the code');
      assert.ok(late.cookies.sessionid?.value, 'and logs the account in');

      assert.equal((await accountRow(first.uuid)).profile_state, 'TRIAL');
      const row = await accountRow(second.uuid);
      assert.equal(row.state, 'active');
      assert.equal(row.profile_state, 'NEW_USER');
      assert.equal(row.promo_redeemed_at, null);
      assert.equal(await usesOf(code), 1);

      const again = await action(server.url, 'create', { body: { email: uniqueAddress('after-last'), promo: code } });
      assertPromoRejected(again, /is used up: its limit of 1 use /);
    });

    test('limit holds under parallel confirms', async () => {
      const code = uniqueCode('rush');
      await insertCode(code, { grantsState: 'TRIAL', maxUses: 5 });

      const signUps = await Promise.all(Array.from({ length: 20 }, () => signUpWith(code.toLowerCase())));
      const responses = await Promise.all(signUps.map((signUp) => confirm(signUp.token)));
      for (const response of responses) assert.equal(response.status, 200, response.text);

      const rows = await Promise.all(signUps.map((signUp) => accountRow(signUp.uuid)));
      assert.equal(rows.filter((row) => row.profile_state === 'TRIAL').length, 5, 'five accounts got the trial');
      assert.equal(rows.filter((row) => row.profile_state === 'NEW_USER').length, 15);
      assert.equal(rows.filter((row) => row.promo_redeemed_at !== null).length, 5, 'five redemptions recorded');
      for (const row of rows) {
        assert.equal(row.promo_redeemed_at !== null, row.profile_state === 'TRIAL', 'recorded exactly for the trial accounts');
      }
      assert.equal(await usesOf(code), 5);
    });
  });
});
