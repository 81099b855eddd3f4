import { sqlRows } from './store.js';

/** One row of the outbox table. Times are milliseconds since the Unix epoch. */
export interface OutboxRow {
  id: string;
  recipient: string;
  message_id: string;
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  sent_at: number | null;
  failed_at: number | null;
  last_error: string | null;
}

/** Reads the outbox rows of a test server's database, oldest first, while it runs or after it stopped. */
export function outboxRows(dataDir: string): Promise<OutboxRow[]> {
  return sqlRows<OutboxRow>(
    dataDir,
    `SELECT id, recipient, message_id, attempts, next_attempt_at, lease_until, sent_at, failed_at, last_error
     FROM outbox ORDER BY created_at, id`,
  );
}

/** Polls `condition` every 50 ms until it is true. Throws an error naming `description` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, description: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${description}`);
    await sleep(50);
  }
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
