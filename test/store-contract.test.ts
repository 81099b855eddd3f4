import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { openStore, type Store } from '../src/storage/store.js';
import { tempDataDir } from './helpers/server.js';
import { databaseUrlFor, ensureDatabase, testStore } from './helpers/store.js';

// The same checks of every storage interface, on the store of this pass of the suite (SQLite, or
// PostgreSQL with TEST_STORE=postgres), straight through the interfaces the features use.

const NOW = 1_800_000_000_000;

function newAccount(emailKey = `${randomUUID()}@example.com`) {
  return { uuid: randomUUID(), email: emailKey, emailKey, promo: null, createdAt: NOW };
}

describe(`store contract on ${testStore()}`, () => {
  let store: Store;

  before(async () => {
    const dataDir = tempDataDir();
    await ensureDatabase(dataDir);
    store = await openStore(databaseUrlFor(dataDir));
  });

  after(async () => {
    await store.close();
  });

  describe('accounts', () => {
    test('insertPending refuses a taken key', async () => {
      const first = newAccount();
      assert.equal(await store.accounts.insertPending(first), true);
      assert.equal(await store.accounts.insertPending({ ...newAccount(), emailKey: first.emailKey }), false);

      const found = await store.accounts.findByEmailKey(first.emailKey);
      assert.equal(found?.uuid, first.uuid);
      assert.equal(found?.state, 'pending');
      assert.equal(found?.createdAt, NOW);
    });

    test('setPassword activates a pending account', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      await store.accounts.setPassword(account.uuid, 'hash-1', NOW + 5);

      const found = await store.accounts.findByUuid(account.uuid);
      assert.equal(found?.state, 'active');
      assert.equal(found?.passwordHash, 'hash-1');
      assert.equal(found?.confirmedAt, NOW + 5);

      await store.accounts.setPassword(account.uuid, 'hash-2', NOW + 9);
      const again = await store.accounts.findByUuid(account.uuid);
      assert.equal(again?.passwordHash, 'hash-2');
      assert.equal(again?.confirmedAt, NOW + 5, 'the first confirmation time is kept');
    });

    test('setDigestHashes stores and clears', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      await store.accounts.setDigestHashes(account.uuid, 'md5', 'sha');
      assert.deepEqual((await store.accounts.findByUuid(account.uuid))?.digestHa1, { md5: 'md5', sha256: 'sha' });

      await store.accounts.setDigestHashes(account.uuid, null, null);
      assert.deepEqual((await store.accounts.findByUuid(account.uuid))?.digestHa1, { md5: null, sha256: null });
    });

    test('unknown account is null', async () => {
      assert.equal(await store.accounts.findByUuid(randomUUID()), null);
      assert.equal(await store.accounts.findByEmailKey('nobody@example.com'), null);
    });
  });

  describe('tokens', () => {
    test('consume succeeds exactly once', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      await store.tokens.insert({ digest: 'd1-' + account.uuid, accountUuid: account.uuid, purpose: 'confirm', createdAt: NOW, expiresAt: NOW + 1000 });

      const results = await Promise.all([1, 2, 3, 4].map(() => store.tokens.consume('d1-' + account.uuid, NOW + 1)));
      assert.deepEqual(results.filter(Boolean).length, 1);
      assert.equal((await store.tokens.find('d1-' + account.uuid, 'confirm'))?.usedAt, NOW + 1);
    });

    test('expired token is not consumed', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      await store.tokens.insert({ digest: 'd2-' + account.uuid, accountUuid: account.uuid, purpose: 'confirm', createdAt: NOW, expiresAt: NOW + 10 });

      assert.equal(await store.tokens.consume('d2-' + account.uuid, NOW + 10), false);
      assert.equal((await store.tokens.find('d2-' + account.uuid, 'confirm'))?.usedAt, null);
    });

    test('invalidateAll uses every open token', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      for (const name of ['a', 'b']) {
        await store.tokens.insert({ digest: `${name}-${account.uuid}`, accountUuid: account.uuid, purpose: 'confirm', createdAt: NOW, expiresAt: NOW + 1000 });
      }

      await store.tokens.invalidateAll(account.uuid, NOW + 2);
      assert.equal(await store.tokens.consume(`a-${account.uuid}`, NOW + 3), false);
      assert.equal((await store.tokens.find(`b-${account.uuid}`, 'confirm'))?.usedAt, NOW + 2);
    });

    test('find checks the purpose', async () => {
      assert.equal(await store.tokens.find('no-such-digest', 'confirm'), null);
    });
  });

  describe('sessions', () => {
    async function activeAccountUuid(): Promise<string> {
      const account = newAccount();
      await store.accounts.insertPending(account);
      await store.accounts.setPassword(account.uuid, 'hash', NOW);
      return account.uuid;
    }

    function session(accountUuid: string, digest: string, expiresAt = NOW + 1000) {
      return { digest, publicId: randomUUID(), accountUuid, csrfDigest: 'c', createdAt: NOW, lastSeenAt: NOW, expiresAt, ip: '127.0.0.1', userAgent: 'test', secondFactorPending: false };
    }

    function live(now: number, idleTimeoutMs = 0) {
      return { now, idleTimeoutMs };
    }

    test('findValid returns a live session', async () => {
      const uuid = await activeAccountUuid();
      await store.sessions.insert(session(uuid, `s1-${uuid}`));
      const found = await store.sessions.findValid(`s1-${uuid}`, live(NOW + 1));
      assert.equal(found?.accountUuid, uuid);
      assert.equal(found?.ip, '127.0.0.1');
    });

    test('findValid ignores expired sessions', async () => {
      const uuid = await activeAccountUuid();
      await store.sessions.insert(session(uuid, `s2-${uuid}`, NOW + 5));
      assert.equal(await store.sessions.findValid(`s2-${uuid}`, live(NOW + 5)), null);
    });

    test('findValid ignores pending accounts', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      await store.sessions.insert(session(account.uuid, `s3-${account.uuid}`));
      assert.equal(await store.sessions.findValid(`s3-${account.uuid}`, live(NOW + 1)), null);
    });

    test('delete and deleteAllOf end sessions', async () => {
      const uuid = await activeAccountUuid();
      for (const name of ['x', 'y', 'z']) await store.sessions.insert(session(uuid, `${name}-${uuid}`));

      await store.sessions.delete(`x-${uuid}`);
      assert.equal(await store.sessions.findValid(`x-${uuid}`, live(NOW + 1)), null);
      assert.ok(await store.sessions.findValid(`y-${uuid}`, live(NOW + 1)));

      await store.sessions.deleteAllOf(uuid);
      assert.equal(await store.sessions.findValid(`y-${uuid}`, live(NOW + 1)), null);
      assert.equal(await store.sessions.findValid(`z-${uuid}`, live(NOW + 1)), null);
    });

    test('findValid applies the idle timeout', async () => {
      const uuid = await activeAccountUuid();
      await store.sessions.insert(session(uuid, `idle-${uuid}`));

      assert.ok(await store.sessions.findValid(`idle-${uuid}`, live(NOW + 99, 100)));
      assert.equal(await store.sessions.findValid(`idle-${uuid}`, live(NOW + 100, 100)), null);
      assert.ok(await store.sessions.findValid(`idle-${uuid}`, live(NOW + 100, 0)), 'no idle timeout with 0');
    });

    test('touch writes only stale times', async () => {
      const uuid = await activeAccountUuid();
      await store.sessions.insert(session(uuid, `touch-${uuid}`));

      await store.sessions.touch(`touch-${uuid}`, NOW + 50, NOW);
      assert.equal((await store.sessions.findValid(`touch-${uuid}`, live(NOW + 60)))?.lastSeenAt, NOW + 50);
      assert.ok(await store.sessions.findValid(`touch-${uuid}`, live(NOW + 120, 100)), 'idle time counts from the touch');

      await store.sessions.touch(`touch-${uuid}`, NOW + 70, NOW + 49);
      assert.equal((await store.sessions.findValid(`touch-${uuid}`, live(NOW + 80)))?.lastSeenAt, NOW + 50, 'a recent time is kept');

      await store.sessions.touch(`touch-${uuid}`, NOW + 90, NOW + 50);
      assert.equal((await store.sessions.findValid(`touch-${uuid}`, live(NOW + 95)))?.lastSeenAt, NOW + 90);
    });

    test('listOf pages newest first', async () => {
      const uuid = await activeAccountUuid();
      const other = await activeAccountUuid();
      for (let index = 0; index < 5; index += 1) {
        await store.sessions.insert({ ...session(uuid, `list${index}-${uuid}`), createdAt: NOW + index, lastSeenAt: NOW + index });
      }
      await store.sessions.insert(session(uuid, `expired-${uuid}`, NOW + 1));
      await store.sessions.insert(session(other, `other-${other}`));

      const all = await store.sessions.listOf(uuid, live(NOW + 10), { limit: null, offset: 0 });
      assert.deepEqual(
        all.map((found) => found.digest),
        [4, 3, 2, 1, 0].map((index) => `list${index}-${uuid}`),
      );
      assert.equal(await store.sessions.countOf(uuid, live(NOW + 10)), 5);

      const page = await store.sessions.listOf(uuid, live(NOW + 10), { limit: 2, offset: 1 });
      assert.deepEqual(
        page.map((found) => found.digest),
        [`list3-${uuid}`, `list2-${uuid}`],
      );
      const rest = await store.sessions.listOf(uuid, live(NOW + 10), { limit: null, offset: 3 });
      assert.equal(rest.length, 2);

      const active = await store.sessions.listOf(uuid, live(NOW + 10, 8), { limit: 10, offset: 0 });
      assert.deepEqual(
        active.map((found) => found.digest),
        [`list4-${uuid}`, `list3-${uuid}`],
      );
      assert.equal(await store.sessions.countOf(uuid, live(NOW + 10, 8)), 2);
    });

    test('deleteByPublicId stays within the account', async () => {
      const uuid = await activeAccountUuid();
      const other = await activeAccountUuid();
      const mine = session(uuid, `mine-${uuid}`);
      await store.sessions.insert(mine);

      assert.equal(await store.sessions.deleteByPublicId(other, mine.publicId), false);
      assert.ok(await store.sessions.findValid(mine.digest, live(NOW + 1)));

      assert.equal(await store.sessions.deleteByPublicId(uuid, mine.publicId), true);
      assert.equal(await store.sessions.findValid(mine.digest, live(NOW + 1)), null);
      assert.equal(await store.sessions.deleteByPublicId(uuid, mine.publicId), false);
    });

    test('deleteAllExcept keeps one session', async () => {
      const uuid = await activeAccountUuid();
      const other = await activeAccountUuid();
      for (const name of ['p', 'q', 'r']) await store.sessions.insert(session(uuid, `${name}-${uuid}`));
      await store.sessions.insert(session(other, `p-${other}`));

      await store.sessions.deleteAllExcept(uuid, `q-${uuid}`);
      assert.equal(await store.sessions.findValid(`p-${uuid}`, live(NOW + 1)), null);
      assert.ok(await store.sessions.findValid(`q-${uuid}`, live(NOW + 1)));
      assert.equal(await store.sessions.findValid(`r-${uuid}`, live(NOW + 1)), null);
      assert.ok(await store.sessions.findValid(`p-${other}`, live(NOW + 1)), 'another account keeps its session');
    });
  });

  describe('outbox', () => {
    function message() {
      const id = randomUUID();
      return { id, recipient: `${id}@example.com`, subject: 's', textBody: 't', htmlBody: '<p>h</p>', messageId: `<${id}@test>` };
    }

    // Claims everything due until nothing is, marking each sent, so that later checks start empty.
    async function drain(at: number): Promise<void> {
      for (let claimed = await store.outbox.claimDue(at, at + 1); claimed; claimed = await store.outbox.claimDue(at, at + 1)) {
        await store.outbox.markSent(claimed.id, at);
      }
    }

    test('claimDue leases one message', async () => {
      await drain(NOW + 10_000_000);
      const queued = message();
      await store.outbox.enqueue(queued, NOW);

      const claimed = await store.outbox.claimDue(NOW, NOW + 100);
      assert.equal(claimed?.id, queued.id);
      assert.equal(claimed?.attempts, 1);
      assert.equal(claimed?.messageId, queued.messageId);
      assert.equal(await store.outbox.claimDue(NOW + 50, NOW + 150), null, 'leased message is not claimed twice');

      const reclaimed = await store.outbox.claimDue(NOW + 101, NOW + 200);
      assert.equal(reclaimed?.id, queued.id, 'an expired lease frees the message');
      assert.equal(reclaimed?.attempts, 2);

      await store.outbox.markSent(queued.id, NOW + 102);
      assert.equal(await store.outbox.claimDue(NOW + 10_000, NOW + 10_100), null);
    });

    test('parallel claims never share a message', async () => {
      const at = NOW + 20_000_000;
      await drain(at);
      const ids = new Set<string>();
      for (let index = 0; index < 10; index += 1) {
        const queued = message();
        ids.add(queued.id);
        await store.outbox.enqueue(queued, at);
      }

      const claims = await Promise.all(Array.from({ length: 14 }, () => store.outbox.claimDue(at, at + 1000)));
      const claimed = claims.filter((claim) => claim !== null).map((claim) => claim.id);
      assert.equal(new Set(claimed).size, claimed.length, 'no message claimed twice');
      assert.ok(claimed.every((id) => ids.has(id)));
      for (const id of claimed) await store.outbox.markSent(id, at);
    });

    test('markFailed retries, then gives up', async () => {
      const at = NOW + 30_000_000;
      await drain(at);
      const queued = message();
      await store.outbox.enqueue(queued, at);
      const pending = await store.outbox.countPending();

      await store.outbox.claimDue(at, at + 10);
      await store.outbox.markFailed(queued.id, 'temporary', at + 500, at + 1);
      assert.equal(await store.outbox.claimDue(at + 100, at + 200), null, 'not due before retryAt');
      assert.equal((await store.outbox.claimDue(at + 500, at + 600))?.id, queued.id);

      await store.outbox.markFailed(queued.id, 'permanent', null, at + 501);
      assert.equal(await store.outbox.claimDue(at + 10_000, at + 10_100), null);
      assert.equal(await store.outbox.countPending(), pending - 1);
    });

    test('takeSendSlot throttles per address', async () => {
      const key = `${randomUUID()}@example.com`;
      assert.equal(await store.outbox.takeSendSlot(key, NOW, 60_000), true);
      assert.equal(await store.outbox.takeSendSlot(key, NOW + 59_999, 60_000), false);
      assert.equal(await store.outbox.takeSendSlot(key, NOW + 60_000, 60_000), true);

      const racing = await Promise.all([1, 2, 3, 4, 5].map(() => store.outbox.takeSendSlot(key, NOW + 200_000, 60_000)));
      assert.equal(racing.filter(Boolean).length, 1);
    });
  });

  describe('profiles', () => {
    test('save replaces written fields', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);

      const empty = await store.profiles.find(account.uuid);
      assert.deepEqual(empty?.values, {});
      assert.equal(empty?.state, 'NEW_USER');

      await store.profiles.save(account.uuid, { company: 'ACME', meta: { a: 'b' } });
      const saved = await store.transaction((stores) => stores.profiles.find(account.uuid, { forUpdate: true }));
      assert.deepEqual(saved?.values, { company: 'ACME', meta: { a: 'b' } });
      assert.equal(saved?.email, account.email);
    });

    test('setState changes the state', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);

      await store.profiles.setState(account.uuid, 'TRIAL');
      assert.equal((await store.profiles.find(account.uuid))?.state, 'TRIAL');
    });
  });

  describe('promo codes', () => {
    test('claimAccountPromo claims once', async () => {
      const account = { ...newAccount(), promo: 'SPRING' };
      await store.accounts.insertPending(account);

      assert.equal(await store.promos.claimAccountPromo(account.uuid, NOW), 'SPRING');
      assert.equal(await store.promos.claimAccountPromo(account.uuid, NOW + 1), null);

      await store.promos.releaseAccountPromo(account.uuid);
      assert.equal(await store.promos.claimAccountPromo(account.uuid, NOW + 2), 'SPRING');
    });

    test('claimAccountPromo without a code', async () => {
      const account = newAccount();
      await store.accounts.insertPending(account);
      assert.equal(await store.promos.claimAccountPromo(account.uuid, NOW), null);
    });
  });

  describe('digest', () => {
    test('nonce counts only increase', async () => {
      const nonce = randomUUID();
      assert.equal(await store.digest.advanceNonceCount(nonce, 1, NOW + 1000), true);
      assert.equal(await store.digest.advanceNonceCount(nonce, 1, NOW + 1000), false);
      assert.equal(await store.digest.advanceNonceCount(nonce, 3, NOW + 1000), true);
      assert.equal(await store.digest.advanceNonceCount(nonce, 2, NOW + 1000), false);

      await store.digest.deleteExpiredNonces(NOW + 2000);
      assert.equal(await store.digest.advanceNonceCount(nonce, 1, NOW + 3000), true, 'an expired record is gone');
    });

    test('secret is created once', async () => {
      const name = `test-${randomUUID()}`;
      const first = await store.digest.secret(name, () => 'one', NOW);
      const second = await store.digest.secret(name, () => 'two', NOW);
      assert.equal(first, 'one');
      assert.equal(second, 'one');
    });
  });

  describe('transactions', () => {
    test('failed transaction writes nothing', async () => {
      const account = newAccount();
      await assert.rejects(
        store.transaction(async (stores) => {
          await stores.accounts.insertPending(account);
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.equal(await store.accounts.findByUuid(account.uuid), null);
    });

    test('ping answers', async () => {
      await store.ping();
    });
  });
});
