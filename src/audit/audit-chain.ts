import { createHash } from 'node:crypto';

import type { AuditRecord } from './audit-store.js';

/** The previous hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of a record that its hash covers: all but the hashes themselves. */
export type ChainedFields = Omit<AuditRecord, 'prevHash' | 'hash'>;

/**
 * Serialises a record as JSON with its keys sorted and no whitespace. For these flat records of strings,
 * whole numbers, booleans and nulls this is the RFC 8785 (JCS) canonical form.
 */
export function canonicalJson(record: ChainedFields): string {
  const fields: Record<string, string | number | boolean | null> = {
    seq: record.seq,
    created_at: record.createdAt,
    type: record.type,
    category: record.category,
    actor: record.actor,
    account_uuid: record.accountUuid,
    ip: record.ip,
    user_agent: record.userAgent,
    success: record.success,
    reason: record.reason,
    details: record.details,
  };
  const sorted = Object.keys(fields).sort().map((key) => [key, fields[key]]);
  return JSON.stringify(Object.fromEntries(sorted));
}

/**
 * Returns the hex SHA-256 of the previous record's hash (64 hex characters) followed by the canonical JSON
 * of this record. Because each hash covers the one before it, editing, deleting or reordering any record
 * breaks every later link.
 */
export function chainHash(prevHash: string, record: ChainedFields): string {
  return createHash('sha256').update(prevHash, 'utf8').update(canonicalJson(record), 'utf8').digest('hex');
}

/** The first problem found in a chain: the seq of the record at fault and what is wrong with it. */
export interface ChainBreak {
  seq: number;
  problem: string;
}

/** Checks records one at a time, in chain order, against the records before them. */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;

  /** How many records passed. */
  get checked(): number {
    return this.expectedSeq - 1;
  }

  /** The hash of the last record that passed, or GENESIS_HASH before any. */
  get lastHash(): string {
    return this.prevHash;
  }

  /** Returns the problem with `record`, or null when it is the correct next link. */
  check(record: AuditRecord): ChainBreak | null {
    const previous = this.expectedSeq - 1;

    if (record.seq > this.expectedSeq) {
      const missing = record.seq - 1 === this.expectedSeq ? `record ${this.expectedSeq} is` : `records ${this.expectedSeq} to ${record.seq - 1} are`;
      return { seq: this.expectedSeq, problem: `${missing} missing; the record after ${previous} is ${record.seq}` };
    }
    if (record.seq < this.expectedSeq) {
      return { seq: record.seq, problem: `record ${record.seq} appears again after record ${previous}` };
    }
    if (record.prevHash !== this.prevHash) {
      return { seq: record.seq, problem: `its previous hash does not match the hash of record ${previous}; a record before it was changed, deleted or moved` };
    }
    if (record.hash !== chainHash(record.prevHash, record)) {
      return { seq: record.seq, problem: 'its hash does not match its contents; the record was changed' };
    }

    this.expectedSeq += 1;
    this.prevHash = record.hash;
    return null;
  }
}
