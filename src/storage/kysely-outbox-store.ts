import type { Kysely } from 'kysely';

import type { OutboxMessage, OutboxStore, OutgoingMessage, UnsentCounts } from '../mail/outbox-store.js';
import type { Dialect } from './database.js';
import type { Database } from './schema.js';

// Kept short so that one error string cannot bloat the table; it is for operators, never for clients.
const MAX_ERROR_LENGTH = 500;

export class KyselyOutboxStore implements OutboxStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async enqueue(message: OutgoingMessage, now: number): Promise<void> {
    await this.db
      .insertInto('outbox')
      .values({
        id: message.id,
        recipient: message.recipient,
        subject: message.subject,
        text_body: message.textBody,
        html_body: message.htmlBody,
        message_id: message.messageId,
        created_at: now,
        next_attempt_at: now,
        lease_until: null,
        sent_at: null,
        failed_at: null,
        last_error: null,
      })
      .execute();
  }

  async claimDue(now: number, leaseUntil: number): Promise<OutboxMessage | null> {
    let due = this.db
      .selectFrom('outbox')
      .select('id')
      .where('sent_at', 'is', null)
      .where('failed_at', 'is', null)
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(1);

    // On PostgreSQL two nodes claim in parallel, each skipping the row the other has locked. SQLite has one
    // writer at a time, so the UPDATE below is already exclusive there.
    if (this.dialect === 'postgres') due = due.forUpdate().skipLocked();

    const row = await this.db
      .updateTable('outbox')
      .set((eb) => ({ lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', (eb) => eb.selectFrom(due.as('due')).select('due.id'))
      .returningAll()
      .executeTakeFirst();

    if (!row) return null;
    return {
      id: row.id,
      recipient: row.recipient,
      subject: row.subject,
      textBody: row.text_body,
      htmlBody: row.html_body,
      messageId: row.message_id,
      attempts: row.attempts,
    };
  }

  async markSent(id: string, now: number): Promise<void> {
    await this.db.updateTable('outbox').set({ sent_at: now, lease_until: null, last_error: null }).where('id', '=', id).execute();
  }

  async markFailed(id: string, error: string, retryAt: number | null, now: number): Promise<void> {
    await this.db
      .updateTable('outbox')
      .set({
        lease_until: null,
        last_error: error.slice(0, MAX_ERROR_LENGTH),
        next_attempt_at: retryAt ?? now,
        failed_at: retryAt === null ? now : null,
      })
      .where('id', '=', id)
      .execute();
  }

  async takeSendSlot(emailKey: string, now: number, intervalMs: number): Promise<boolean> {
    const taken = await this.db
      .insertInto('mail_throttle')
      .values({ email_key: emailKey, last_sent_at: now })
      .onConflict((conflict) =>
        conflict
          .column('email_key')
          .doUpdateSet({ last_sent_at: now })
          .where('mail_throttle.last_sent_at', '<=', now - intervalMs),
      )
      .returning('email_key')
      .executeTakeFirst();

    return taken !== undefined;
  }

  async countPending(): Promise<number> {
    const row = await this.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('sent_at', 'is', null)
      .where('failed_at', 'is', null)
      .executeTakeFirstOrThrow();

    return Number(row.count);
  }

  async countUnsent(): Promise<UnsentCounts> {
    // One pass over the unsent rows, which the outbox_due index finds by its leading sent_at column.
    const row = await this.db
      .selectFrom('outbox')
      .select((eb) => [eb.fn.countAll<number>().as('unsent'), eb.fn.count<number>('failed_at').as('failed')])
      .where('sent_at', 'is', null)
      .executeTakeFirstOrThrow();

    const failed = Number(row.failed);
    return { queued: Number(row.unsent) - failed, failed };
  }

  async deleteForRecipient(emailKey: string): Promise<void> {
    // Recipients keep the case of their local part, and email keys are the whole address lower-cased.
    await this.db
      .deleteFrom('outbox')
      .where((eb) => eb(eb.fn<string>('lower', ['recipient']), '=', emailKey))
      .execute();
    await this.db.deleteFrom('mail_throttle').where('email_key', '=', emailKey).execute();
  }
}
