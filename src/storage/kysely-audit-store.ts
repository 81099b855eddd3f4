import type { Kysely, Selectable } from 'kysely';

import { chainHash, type ChainedFields } from '../audit/audit-chain.js';
import { type AuditEvent, categoryOf } from '../audit/audit-events.js';
import type { AuditRecord, AuditStore, ChainHead } from '../audit/audit-store.js';
import type { Page } from '../sessions/session-store.js';
import type { AuditLogTable, Database } from './schema.js';

// Long user agents and notes are cut, as on sessions: they are for people reading the log.
const MAX_TEXT = 512;
// C0 controls and DEL: PostgreSQL text cannot hold NUL, and the others only garble a reader's terminal.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/**
 * The way appends reach the database. `immediate` appends in a transaction of its own (a store over the
 * database itself), and `deferred` queues records until `flush()` at the end of the open transaction that
 * the store is bound to.
 */
export type AppendMode = 'immediate' | 'deferred';

export class KyselyAuditStore implements AuditStore {
  private pending: ChainedFieldsWithoutSeq[] = [];
  private flushed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly mode: AppendMode,
  ) {}

  async record(event: AuditEvent): Promise<void> {
    const entry = entryOf(event, Date.now());

    if (this.mode === 'immediate') {
      await this.db.transaction().execute((trx) => appendToChain(trx, [entry]));
      return;
    }
    if (this.flushed) throw new Error(`audit event ${event.type} was recorded after its transaction had ended`);
    this.pending.push(entry);
  }

  /** Appends the queued records; the transaction calls it after its work, as its last statements. */
  async flush(): Promise<void> {
    this.flushed = true;
    if (this.pending.length > 0) await appendToChain(this.db, this.pending);
    this.pending = [];
  }

  async listOf(accountUuid: string, page: Page): Promise<AuditRecord[]> {
    const rows = await this.db
      .selectFrom('audit_log')
      .selectAll()
      .where('account_uuid', '=', accountUuid)
      .orderBy('seq', 'desc')
      // SQLite accepts OFFSET only after a LIMIT, so "no limit" is the largest safe integer.
      .limit(page.limit ?? Number.MAX_SAFE_INTEGER)
      .offset(page.offset)
      .execute();
    return rows.map(toRecord);
  }

  async countOf(accountUuid: string): Promise<number> {
    const row = await this.db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('account_uuid', '=', accountUuid)
      .executeTakeFirstOrThrow();
    // PostgreSQL returns count(*) as a string (bigint), SQLite as a number.
    return Number(row.count);
  }

  async head(): Promise<ChainHead> {
    const row = await this.db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
    return { seq: Number(row.seq), hash: row.hash };
  }

  async range(afterSeq: number, throughSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', afterSeq)
      .where('seq', '<=', throughSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }
}

type ChainedFieldsWithoutSeq = Omit<ChainedFields, 'seq'>;

/**
 * Appends records after the chain head and moves the head past them, inside the transaction of `db`. The
 * first statement updates the head row, which serialises appends until the transaction ends: on
 * PostgreSQL the UPDATE holds the row lock (as SELECT ... FOR UPDATE would) on every node, and on SQLite it
 * takes the database's one write lock at once, so that a transaction that has only read so far cannot
 * find another process's append committed under it.
 */
async function appendToChain(db: Kysely<Database>, entries: ChainedFieldsWithoutSeq[]): Promise<void> {
  const claimed = await db
    .updateTable('audit_head')
    .set((eb) => ({ seq: eb('seq', '+', entries.length) }))
    .where('id', '=', 1)
    .returning(['seq', 'hash'])
    .executeTakeFirstOrThrow();

  // The head row's hash is still that of the last record, and its seq is already past the new ones.
  let seq = Number(claimed.seq) - entries.length;
  let prevHash = claimed.hash;

  for (const entry of entries) {
    seq += 1;
    const fields: ChainedFields = { ...entry, seq };
    const hash = chainHash(prevHash, fields);

    await db
      .insertInto('audit_log')
      .values({
        seq,
        created_at: fields.createdAt,
        type: fields.type,
        category: fields.category,
        actor: fields.actor,
        account_uuid: fields.accountUuid,
        ip: fields.ip,
        user_agent: fields.userAgent,
        success: fields.success ? 1 : 0,
        reason: fields.reason,
        details: fields.details,
        prev_hash: prevHash,
        hash,
      })
      .execute();
    prevHash = hash;
  }

  await db.updateTable('audit_head').set({ hash: prevHash }).where('id', '=', 1).execute();
}

function entryOf(event: AuditEvent, now: number): ChainedFieldsWithoutSeq {
  return {
    createdAt: now,
    type: event.type,
    category: categoryOf(event.type),
    actor: event.actor,
    accountUuid: event.accountUuid,
    ip: clean(event.client?.ip ?? null),
    userAgent: clean(event.client?.userAgent ?? null),
    success: event.failure === undefined,
    reason: event.failure ?? null,
    details: clean(event.details ?? '') ?? '',
  };
}

/**
 * Returns text as the database will give it back, so that the hash computed now matches the stored row.
 * Control characters become spaces, the text is cut to MAX_TEXT, and a lone surrogate half left by the cut
 * or the input becomes U+FFFD, because UTF-8 cannot store one.
 */
function clean(text: string | null): string | null {
  return text === null ? null : text.replace(CONTROL_CHARACTERS, ' ').slice(0, MAX_TEXT).toWellFormed();
}

function toRecord(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    seq: Number(row.seq),
    createdAt: Number(row.created_at),
    type: row.type,
    category: row.category,
    actor: row.actor,
    accountUuid: row.account_uuid,
    ip: row.ip,
    userAgent: row.user_agent,
    success: Number(row.success) === 1,
    reason: row.reason,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
