import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Database from 'better-sqlite3';

import type { SessionRecord } from '../src/sessions/session-store.js';
import { openStore, type Store } from '../src/storage/store.js';
import { tempDataDir } from './helpers/server.js';
import { testStore } from './helpers/store.js';

// On SQLite a live session or a profile, once read, is cached in memory until the database changes. These
// tests read the same one twice and check whether the second result is the very object of the first (a hit).
// Then they change the database in each way that can end a session or change a profile, from this connection
// and from another one, as another process on the same file would.

const NOW = Date.now();
const HOUR = 3_600_000;
const LIVE = { now: NOW, idleTimeoutMs: 0 };

const skip = testStore() === 'sqlite' ? false : 'the read caches exist on SQLite only; PostgreSQL reads every time';

describe('reads cached while a SQLite store is unchanged', { skip }, () => {
  let dataDir: string;
  let store: Store;
  let otherProcess: Database.Database;

  before(async () => {
    dataDir = tempDataDir();
    store = await openStore(`sqlite:${path.join(dataDir, 'sigma-accounts.sqlite')}`);
    otherProcess = new Database(path.join(dataDir, 'sigma-accounts.sqlite'), { timeout: 5000 });
  });

  after(async () => {
    otherProcess.close();
    await store.close();
  });

  async function liveSession(overrides: Partial<SessionRecord> = {}): Promise<SessionRecord> {
    const uuid = randomUUID();
    const email = `${uuid}@example.com`;
    await store.accounts.insertPending({ uuid, email, emailKey: email, promo: null, createdAt: NOW });
    await store.accounts.setPassword(uuid, 'hash', NOW);

    const session: SessionRecord = {
      digest: `digest-${randomUUID()}`,
      publicId: randomUUID(),
      accountUuid: uuid,
      csrfDigest: 'csrf',
      createdAt: NOW,
      lastSeenAt: NOW,
      expiresAt: NOW + HOUR,
      ip: null,
      userAgent: null,
      secondFactorPending: false,
      ...overrides,
    };
    await store.sessions.insert(session);
    return session;
  }

  test('a second lookup of an unchanged store is answered from memory', async () => {
    const session = await liveSession();

    const first = await store.sessions.findValid(session.digest, LIVE);
    const second = await store.sessions.findValid(session.digest, LIVE);

    assert.equal(first?.accountUuid, session.accountUuid);
    assert.equal(second, first, 'the same object comes back, so the database was not read');
    assert.ok(Object.isFrozen(second), 'a cached session cannot be changed by a caller');
  });

  test('a write of this process makes the next lookup read the database', async () => {
    const session = await liveSession();
    const first = await store.sessions.findValid(session.digest, LIVE);

    await liveSession();
    const second = await store.sessions.findValid(session.digest, LIVE);

    assert.notEqual(second, first);
    assert.deepEqual(second, first);
  });

  test('a session deleted by this process is gone at once', async () => {
    const session = await liveSession();
    await store.sessions.findValid(session.digest, LIVE);

    await store.sessions.delete(session.digest);

    assert.equal(await store.sessions.findValid(session.digest, LIVE), null);
  });

  test('a session deleted by another process is gone at once', async () => {
    const session = await liveSession();
    assert.ok(await store.sessions.findValid(session.digest, LIVE));
    assert.ok(await store.sessions.findValid(session.digest, LIVE));

    otherProcess.prepare('DELETE FROM sessions WHERE digest = ?').run(session.digest);

    assert.equal(await store.sessions.findValid(session.digest, LIVE), null);
  });

  test('an account disabled by another process loses its session at once', async () => {
    const session = await liveSession();
    assert.ok(await store.sessions.findValid(session.digest, LIVE));

    otherProcess.prepare("UPDATE accounts SET state = 'disabled' WHERE uuid = ?").run(session.accountUuid);

    assert.equal(await store.sessions.findValid(session.digest, LIVE), null);
  });

  test('an account restriction set by another process shows at once', async () => {
    const session = await liveSession();
    assert.equal((await store.sessions.findValid(session.digest, LIVE))?.restrictions.httpsOnly, false);

    otherProcess.prepare('UPDATE accounts SET api_https_only = 1 WHERE uuid = ?').run(session.accountUuid);

    assert.equal((await store.sessions.findValid(session.digest, LIVE))?.restrictions.httpsOnly, true);
  });

  test('expiry and the idle timeout are checked again on every hit', async () => {
    const session = await liveSession({ lastSeenAt: NOW - 10 * 60_000, expiresAt: NOW + HOUR });
    const cached = await store.sessions.findValid(session.digest, LIVE);
    assert.equal(await store.sessions.findValid(session.digest, LIVE), cached, 'the session is cached');

    assert.equal(await store.sessions.findValid(session.digest, { now: NOW + HOUR, idleTimeoutMs: 0 }), null, 'expired');
    assert.equal(await store.sessions.findValid(session.digest, { now: NOW, idleTimeoutMs: 5 * 60_000 }), null, 'idle too long');
    assert.equal(await store.sessions.findValid(session.digest, { now: NOW, idleTimeoutMs: 20 * 60_000 }), cached, 'idle, but not too long');
  });

  test('transaction writes end cached sessions', async () => {
    const session = await liveSession();
    await store.sessions.findValid(session.digest, LIVE);

    await store.transaction(async (stores) => {
      assert.ok(await stores.sessions.findValid(session.digest, LIVE));
      await stores.sessions.deleteAllOf(session.accountUuid);
    });

    assert.equal(await store.sessions.findValid(session.digest, LIVE), null);
  });

  test('profile cached until any change', async () => {
    const { accountUuid } = await liveSession();

    const first = await store.profiles.find(accountUuid);
    assert.equal(await store.profiles.find(accountUuid), first, 'the same object comes back');
    assert.ok(Object.isFrozen(first), 'a cached profile cannot be changed by a caller');
    assert.ok(Object.isFrozen(first?.values), 'nor can its values');

    await store.profiles.save(accountUuid, { first_name: 'Ada' });
    assert.equal((await store.profiles.find(accountUuid))?.values.first_name, 'Ada', 'a write of this process shows at once');

    otherProcess.prepare(`UPDATE accounts SET profile = '{"first_name":"Grace"}' WHERE uuid = ?`).run(accountUuid);
    assert.equal((await store.profiles.find(accountUuid))?.values.first_name, 'Grace', 'a commit of another process shows at once');
  });
});
