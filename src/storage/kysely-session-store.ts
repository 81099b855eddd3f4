import { randomUUID } from 'node:crypto';

import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely';

import type { LiveSession, Liveness, Page, SessionRecord, SessionStore } from '../sessions/session-store.js';
import { CompiledTemplate } from './compiled-query.js';
import type { AccountTable, Database, SessionTable } from './schema.js';
import type { StoreReadCache } from './store-read-cache.js';

export class KyselySessionStore implements SessionStore {
  private findLive: SessionLookup | null = null;
  private findLiveIdle: SessionLookup | null = null;

  /** `cache`, on SQLite outside transactions, spares repeated lookups of a session while the store is unchanged. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cache: StoreReadCache<LiveSession> | null = null,
  ) {}

  async insert(session: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        digest: session.digest,
        public_id: session.publicId,
        account_uuid: session.accountUuid,
        csrf_digest: session.csrfDigest,
        created_at: session.createdAt,
        last_seen_at: session.lastSeenAt,
        expires_at: session.expiresAt,
        ip: session.ip,
        user_agent: session.userAgent,
        second_factor_pending: session.secondFactorPending ? 1 : 0,
      })
      .execute();
  }

  async findValid(digest: string, liveness: Liveness): Promise<LiveSession | null> {
    // A kept session was live when read; what the time alone decides may have changed since.
    const cached = this.cache?.get(digest);
    if (cached) return isLive(cached, liveness) ? cached : null;
    const readingBefore = this.cache?.lastReading() ?? 0;

    // Every authenticated request by cookie runs this lookup, so its SQL is compiled once per variant.
    const withIdleTimeout = liveness.idleTimeoutMs > 0;
    const template = withIdleTimeout ? (this.findLiveIdle ??= this.findLiveTemplate(true)) : (this.findLive ??= this.findLiveTemplate(false));
    const values = withIdleTimeout ? [digest, liveness.now, liveness.now - liveness.idleTimeoutMs] : [digest, liveness.now];
    const [row] = await template.run(this.db, values);
    if (!row) return null;
    const session = { ...toRecord(row), restrictions: { httpsOnly: row.api_https_only === 1, networks: row.network_restrictions } };
    return this.cache ? this.cache.set(digest, session, readingBefore) : session;
  }

  private findLiveTemplate(withIdleTimeout: boolean) {
    return new CompiledTemplate((digest = '', now = '', seenSince = '') => {
      const query = this.db
        .selectFrom('sessions')
        .innerJoin('accounts', 'accounts.uuid', 'sessions.account_uuid')
        .selectAll('sessions')
        .select(['accounts.api_https_only', 'accounts.network_restrictions'])
        .where('sessions.digest', '=', digest)
        .where('accounts.state', '=', 'active')
        // The stand-ins are strings; the values that replace them are numbers.
        .where('sessions.expires_at', '>', now as unknown as number);
      return withIdleTimeout ? query.where('sessions.last_seen_at', '>', seenSince as unknown as number) : query;
    }, withIdleTimeout ? 3 : 2);
  }

  async completeSecondFactor(digest: string, expiresAt: number): Promise<boolean> {
    const updated = await this.db
      .updateTable('sessions')
      .set({ second_factor_pending: 0, expires_at: expiresAt })
      .where('digest', '=', digest)
      .where('second_factor_pending', '=', 1)
      .returning('digest')
      .executeTakeFirst();

    return updated !== undefined;
  }

  async touch(digest: string, seenAt: number, staleSince: number): Promise<void> {
    // The condition sits in the UPDATE, so of requests racing on any node only the first one writes.
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: seenAt })
      .where('digest', '=', digest)
      .where('last_seen_at', '<=', staleSince)
      .execute();
  }

  async listOf(accountUuid: string, liveness: Liveness, page: Page): Promise<SessionRecord[]> {
    await this.assignMissingPublicIds(accountUuid);

    const rows = await whereLive(this.db.selectFrom('sessions').selectAll('sessions').where('sessions.account_uuid', '=', accountUuid), liveness)
      .orderBy('sessions.created_at', 'desc')
      .orderBy('sessions.digest', 'desc')
      // SQLite accepts OFFSET only after a LIMIT, so "no limit" is the largest safe integer.
      .limit(page.limit ?? Number.MAX_SAFE_INTEGER)
      .offset(page.offset)
      .execute();

    return rows.map(toRecord);
  }

  async countOf(accountUuid: string, liveness: Liveness): Promise<number> {
    const row = await whereLive(this.db.selectFrom('sessions').where('sessions.account_uuid', '=', accountUuid), liveness)
      .select((eb) => eb.fn.countAll().as('count'))
      .executeTakeFirstOrThrow();

    // PostgreSQL returns count(*) as a string (bigint), SQLite as a number.
    return Number(row.count);
  }

  async delete(digest: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('digest', '=', digest).execute();
  }

  async deleteByPublicId(accountUuid: string, publicId: string): Promise<boolean> {
    const deleted = await this.db
      .deleteFrom('sessions')
      .where('account_uuid', '=', accountUuid)
      .where('public_id', '=', publicId)
      .returning('digest')
      .executeTakeFirst();

    return deleted !== undefined;
  }

  async deleteAllOf(accountUuid: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('account_uuid', '=', accountUuid).execute();
  }

  async deleteAllExcept(accountUuid: string, keep: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('account_uuid', '=', accountUuid).where('digest', '!=', keep).execute();
  }

  /**
   * Gives a random public id to the account's sessions that have none. Only a node running a version from
   * before public ids existed inserts such sessions, for instance during a rolling upgrade.
   */
  private async assignMissingPublicIds(accountUuid: string): Promise<void> {
    const rows = await this.db
      .selectFrom('sessions')
      .select('digest')
      .where('account_uuid', '=', accountUuid)
      .where('public_id', 'is', null)
      .execute();

    for (const row of rows) {
      await this.db
        .updateTable('sessions')
        .set({ public_id: randomUUID() })
        .where('digest', '=', row.digest)
        .where('public_id', 'is', null)
        .execute();
    }
  }
}

type SessionLookup = CompiledTemplate<Selectable<SessionTable> & Pick<Selectable<AccountTable>, 'api_https_only' | 'network_restrictions'>>;

function whereLive<O>(query: SelectQueryBuilder<Database, 'sessions', O>, liveness: Liveness): SelectQueryBuilder<Database, 'sessions', O> {
  const live = query.where('sessions.expires_at', '>', liveness.now);
  if (liveness.idleTimeoutMs <= 0) return live;
  return live.where('sessions.last_seen_at', '>', liveness.now - liveness.idleTimeoutMs);
}

function toRecord(row: Selectable<SessionTable>): SessionRecord {
  return {
    digest: row.digest,
    // A session inserted without a public id gets one derived from the digest, which cannot be turned back.
    // listOf gives such sessions a random one before it shows them.
    publicId: row.public_id ?? row.digest.slice(0, 32),
    accountUuid: row.account_uuid,
    csrfDigest: row.csrf_digest,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
    ip: row.ip,
    userAgent: row.user_agent,
    secondFactorPending: row.second_factor_pending === 1,
  };
}

function isLive(session: LiveSession, { now, idleTimeoutMs }: Liveness): boolean {
  return session.expiresAt > now && (idleTimeoutMs <= 0 || session.lastSeenAt > now - idleTimeoutMs);
}
