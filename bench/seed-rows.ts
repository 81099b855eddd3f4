// The rows that bench:seed writes: active accounts that share one password, and one live session each.
// Session ids are derived from a key and the row number, so that the benchmark can rebuild the cookie of
// any seeded session without keeping a million ids in memory or in a file.
import { createHash, createHmac, randomUUID } from 'node:crypto';

import type { AccountTable, SessionTable } from '../src/storage/schema.js';

/** File name of the manifest that bench:seed writes into DATA_DIR. */
export const MANIFEST_NAME = 'bench-seed.json';

/** The contents of a seeded store, written into its DATA_DIR as bench-seed.json. */
export interface SeedManifest {
  accounts: number;
  /** Every account has one session, so this equals `accounts`. */
  sessions: number;
  /** The password of every seeded account. */
  password: string;
  /** Hex key from which session ids and CSRF tokens are derived (seededSessionId). */
  sessionKey: string;
  /** Time of the seeding, in milliseconds since the epoch: created_at, confirmed_at and last_seen_at. */
  seededAt: number;
  /** When the seeded sessions expire, in milliseconds since the epoch. */
  expiresAt: number;
}

/** Values that every seeded row of a table shares. */
export interface SeedConstants {
  passwordHash: string;
  seededAt: number;
  expiresAt: number;
}

export type SeededAccount = Pick<AccountTable, 'uuid' | 'email' | 'email_key'>;
export type SeededSession = Pick<SessionTable, 'digest' | 'account_uuid' | 'csrf_digest' | 'public_id'>;

export interface SeedBatch {
  accounts: SeededAccount[];
  sessions: SeededSession[];
}

/** The user agent of seeded sessions, which sets them apart from sessions of real logins. */
export const SEED_USER_AGENT = 'sigma-accounts bench seed';
export const SEED_IP = '127.0.0.1';

/** Returns the address of seeded account `index` (counted from 0); it is also its lookup key. */
export function seededEmail(index: number): string {
  return `bench-${index}@example.com`;
}

/** Returns the session id of seeded session `index`: 256 bits, URL-safe base64, as the server makes them. */
export function seededSessionId(sessionKey: string, index: number): string {
  return createHmac('sha256', Buffer.from(sessionKey, 'hex')).update(`session ${index}`).digest('base64url');
}

function seededCsrfToken(sessionKey: string, index: number): string {
  return createHmac('sha256', Buffer.from(sessionKey, 'hex')).update(`csrf ${index}`).digest('base64url');
}

/** SHA-256 hex of a secret: the form in which the server stores session ids and CSRF tokens. */
function digestOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Yields the rows of `manifest.accounts` accounts and their sessions, `batchSize` accounts at a time. */
export function* seedBatches(manifest: SeedManifest, batchSize: number): Generator<SeedBatch> {
  for (let start = 0; start < manifest.accounts; start += batchSize) {
    const end = Math.min(start + batchSize, manifest.accounts);
    const batch: SeedBatch = { accounts: [], sessions: [] };

    for (let index = start; index < end; index += 1) {
      const uuid = randomUUID();
      const email = seededEmail(index);
      batch.accounts.push({ uuid, email, email_key: email });
      batch.sessions.push({
        digest: digestOf(seededSessionId(manifest.sessionKey, index)),
        account_uuid: uuid,
        csrf_digest: digestOf(seededCsrfToken(manifest.sessionKey, index)),
        public_id: randomUUID(),
      });
    }
    yield batch;
  }
}
