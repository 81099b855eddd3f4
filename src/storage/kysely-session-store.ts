import type { Kysely } from 'kysely';

import type { SessionRecord, SessionStore } from '../sessions/session-store.js';
import type { Database } from './schema.js';

export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Kysely<Database>) {}

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
      })
      .execute();
  }

  async findValid(digest: string, now: number): Promise<SessionRecord | null> {
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('accounts', 'accounts.uuid', 'sessions.account_uuid')
      .selectAll('sessions')
      .where('sessions.digest', '=', digest)
      .where('sessions.expires_at', '>', now)
      .where('accounts.state', '=', 'active')
      .executeTakeFirst();

    if (!row) return null;
    return {
      digest: row.digest,
      // Sessions older than the public id get one derived from the digest, which cannot be turned back.
      publicId: row.public_id ?? row.digest.slice(0, 32),
      accountUuid: row.account_uuid,
      csrfDigest: row.csrf_digest,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      expiresAt: row.expires_at,
      ip: row.ip,
      userAgent: row.user_agent,
    };
  }

  async delete(digest: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('digest', '=', digest).execute();
  }

  async deleteAllOf(accountUuid: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('account_uuid', '=', accountUuid).execute();
  }
}
