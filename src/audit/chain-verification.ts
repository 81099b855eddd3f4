import { type ChainBreak, ChainVerifier } from './audit-chain.js';
import type { AuditStore, ChainHead } from './audit-store.js';

/** The outcome of checking the whole audit chain. */
export interface ChainReport {
  intact: boolean;
  /** How many records passed before the first problem, or in all. */
  checked: number;
  head: ChainHead;
  /** The first problem found; null when the chain is intact. */
  broken: ChainBreak | null;
}

// Records are read in pages of this size, so that a long chain never sits in memory whole.
const PAGE_SIZE = 1000;

/**
 * Checks every record up to the chain head as read at the start. The seqs must be consecutive from 1, each
 * previous hash must equal the hash of the record before, each hash must match its record's contents, and
 * the last hash must equal the head's. Records appended while it runs are left for the next check.
 *
 * NOTE: the chain proves the order and contents of records only relative to the head stored beside them.
 * Someone who can write to the database can rewrite the records and the head together; publishing the head
 * hash elsewhere from time to time would detect that too.
 */
export async function verifyAuditChain(store: AuditStore): Promise<ChainReport> {
  const head = await store.head();
  const verifier = new ChainVerifier();

  for (let afterSeq = 0; afterSeq < head.seq; ) {
    const records = await store.range(afterSeq, head.seq, PAGE_SIZE);
    if (records.length === 0) break;

    for (const record of records) {
      const broken = verifier.check(record);
      if (broken) return { intact: false, checked: verifier.checked, head, broken };
    }
    afterSeq = records[records.length - 1]?.seq ?? head.seq;
  }

  if (verifier.checked < head.seq) {
    const first = verifier.checked + 1;
    const missing = first === head.seq ? `record ${first} is` : `records ${first} to ${head.seq} are`;
    const problem = `${missing} missing; the chain head says the chain ends at record ${head.seq}`;
    return { intact: false, checked: verifier.checked, head, broken: { seq: first, problem } };
  }
  if (verifier.lastHash !== head.hash) {
    const problem = 'its hash differs from the one the chain head holds for the last record';
    return { intact: false, checked: verifier.checked, head, broken: { seq: head.seq, problem } };
  }
  return { intact: true, checked: verifier.checked, head, broken: null };
}
