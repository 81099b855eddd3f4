import type { Kysely } from 'kysely';

import type { AccountSummary, AdminStore, MailFilter, MailSummary } from '../admin/admin-store.js';
import type { AccountState, Database } from './schema.js';

export class KyselyAdminStore implements AdminStore {
  constructor(private readonly db: Kysely<Database>) {}

  async listAccounts(options: { limit: number; offset: number; state?: AccountState }): Promise<AccountSummary[]> {
    let query = this.summaries().orderBy('accounts.created_at').orderBy('accounts.uuid').limit(options.limit).offset(options.offset);
    if (options.state) query = query.where('accounts.state', '=', options.state);

    const rows = await query.execute();
    return rows.map(toSummary);
  }

  async findAccount(uuidOrEmailKey: string): Promise<AccountSummary | null> {
    const row = await this.summaries()
      .where((eb) => eb.or([eb('accounts.uuid', '=', uuidOrEmailKey), eb('accounts.email_key', '=', uuidOrEmailKey)]))
      .executeTakeFirst();
    return row ? toSummary(row) : null;
  }

  async setActive(uuid: string, active: boolean): Promise<boolean> {
    const changed = await this.db
      .updateTable('accounts')
      .set({ state: active ? 'active' : 'disabled' })
      .where('uuid', '=', uuid)
      .where('state', 'in', ['active', 'disabled'])
      .returning('uuid')
      .executeTakeFirst();

    return changed !== undefined;
  }

  async setProfileState(uuid: string, state: string): Promise<void> {
    await this.db.updateTable('accounts').set({ profile_state: state }).where('uuid', '=', uuid).execute();
  }

  async setNetworkRestrictions(uuid: string, networks: string | null): Promise<void> {
    await this.db.updateTable('accounts').set({ network_restrictions: networks }).where('uuid', '=', uuid).execute();
  }

  async listMail(filter: MailFilter, limit: number): Promise<MailSummary[]> {
    let query = this.db.selectFrom('outbox').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit);
    if (filter === 'pending') query = query.where('sent_at', 'is', null).where('failed_at', 'is', null);
    if (filter === 'sent') query = query.where('sent_at', 'is not', null);
    if (filter === 'failed') query = query.where('failed_at', 'is not', null);

    const rows = await query.execute();
    return rows.map((row) => ({
      id: row.id,
      recipient: row.recipient,
      subject: row.subject,
      attempts: row.attempts,
      createdAt: row.created_at,
      nextAttemptAt: row.next_attempt_at,
      sentAt: row.sent_at,
      failedAt: row.failed_at,
      lastError: row.last_error,
    }));
  }

  async retryMail(id: string, now: number): Promise<boolean> {
    const changed = await this.db
      .updateTable('outbox')
      .set({ failed_at: null, next_attempt_at: now, attempts: 0, lease_until: null })
      .where('id', '=', id)
      .where('sent_at', 'is', null)
      .returning('id')
      .executeTakeFirst();

    return changed !== undefined;
  }

  private summaries() {
    return this.db
      .selectFrom('accounts')
      .select((eb) => [
        'accounts.uuid',
        'accounts.email',
        'accounts.state',
        'accounts.profile_state',
        'accounts.promo',
        'accounts.created_at',
        'accounts.confirmed_at',
        'accounts.otp_secret',
        'accounts.network_restrictions',
        eb.selectFrom('sessions').select(eb.fn.countAll<number>().as('count')).whereRef('sessions.account_uuid', '=', 'accounts.uuid').as('sessions'),
      ]);
  }
}

function toSummary(row: {
  uuid: string;
  email: string;
  state: AccountState;
  profile_state: string;
  promo: string | null;
  created_at: number;
  confirmed_at: number | null;
  otp_secret: string | null;
  network_restrictions: string | null;
  sessions: number | string | null;
}): AccountSummary {
  return {
    uuid: row.uuid,
    email: row.email,
    state: row.state,
    profileState: row.profile_state,
    promo: row.promo,
    createdAt: row.created_at,
    confirmedAt: row.confirmed_at,
    sessions: Number(row.sessions ?? 0),
    twoFactorEnabled: row.otp_secret !== null,
    networkRestrictions: row.network_restrictions,
  };
}
