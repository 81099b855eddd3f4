// SQLite result codes (better-sqlite3 reports them as `code`) that mean the database is busy or cannot
// be used right now, rather than that the request was wrong.
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/;

// PostgreSQL SQLSTATE classes and codes after which a retry may succeed: connection exceptions (08),
// insufficient resources (53), operator intervention (57: shutdown, statement timeout), and serialization
// failures and deadlocks (40001, 40P01).
const POSTGRES_UNAVAILABLE = /^(08|53|57)|^40001$|^40P01$/;

// Network errors of the pg driver's socket.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

// Messages of the pg driver and pool that carry no code.
const POSTGRES_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|not queryable|connection error/i;

/** Returns whether an error means that the store is unavailable, so that the client may retry later. */
export function isStoreUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;

  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (SQLITE_UNAVAILABLE.test(code) || NETWORK_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && POSTGRES_UNAVAILABLE.test(code)) return true;
  }
  return typeof message === 'string' && POSTGRES_MESSAGES.test(message);
}
