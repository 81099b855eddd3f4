import type { Page } from '../sessions/session-store.js';
import type { AuditEvent } from './audit-events.js';

/** One record of the audit chain, as stored. Times are milliseconds since the Unix epoch. */
export interface AuditRecord {
  /** Position in the chain, from 1 with no gaps. */
  seq: number;
  createdAt: number;
  type: string;
  category: string;
  /** An account uuid, "operator", or null for an anonymous caller. */
  actor: string | null;
  /** The account the event is about. */
  accountUuid: string | null;
  ip: string | null;
  userAgent: string | null;
  success: boolean;
  /** The reason code of a failure; null on success. */
  reason: string | null;
  details: string;
  /** Hash of the record before this one, or GENESIS_HASH for the first. */
  prevHash: string;
  /** SHA-256 over prevHash and the canonical JSON of this record (see audit-chain.ts). */
  hash: string;
}

/** The last record of the chain: its seq and hash, or 0 and GENESIS_HASH while the chain is empty. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Persistence of the audit trail, an append-only hash chain. */
export interface AuditStore {
  /**
   * Records a security event as the next link of the chain, stamped with the current time. Through the
   * stores of an open transaction (`store.transaction(async (stores) => stores.audit.record(...))`) the
   * record is written when the transaction's work returns, so it commits or rolls back with the change it
   * describes. Through the store itself it is written at once, in a transaction of its own. A request
   * that throttling rejected, for example, is recorded from its handler with
   * `await store.audit.record({ type: 'throttled', actor: null, accountUuid: null, client: clientOf(request), failure: 'rate_limited', details: 'login' })`.
   */
  record(event: AuditEvent): Promise<void>;
  /** Returns a page of the records about an account, newest first. */
  listOf(accountUuid: string, page: Page): Promise<AuditRecord[]>;
  countOf(accountUuid: string): Promise<number>;
  head(): Promise<ChainHead>;
  /** Returns up to `limit` records with a seq above `afterSeq` and at most `throughSeq`, in chain order. */
  range(afterSeq: number, throughSeq: number, limit: number): Promise<AuditRecord[]>;
}
