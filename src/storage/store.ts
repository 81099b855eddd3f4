import type { AccountStore } from '../accounts/account-store.js';
import type { AdminStore } from '../admin/admin-store.js';
import type { ApiTokenStore } from '../api-tokens/api-token-store.js';
import type { AuditStore } from '../audit/audit-store.js';
import type { TokenStore } from '../confirmation/token-store.js';
import type { DigestStore } from '../digest/digest-store.js';
import type { OutboxStore } from '../mail/outbox-store.js';
import type { ProfileStore, StoredProfile } from '../profile/profile-store.js';
import type { PromoStore } from '../promo/promo-store.js';
import type { LiveSession, SessionStore } from '../sessions/session-store.js';
import type { ThrottleStore } from '../throttle/throttle-store.js';
import type { TwoFactorStore } from '../two-factor/two-factor-store.js';
import { type ChangeClock, type DatabaseHandle, type Dialect, migrateToLatest, openDatabase, type PoolSettings, type PoolUsage, type StatementObserver } from './database.js';
import { KyselyAccountStore } from './kysely-account-store.js';
import { KyselyAdminStore } from './kysely-admin-store.js';
import { KyselyApiTokenStore } from './kysely-api-token-store.js';
import { KyselyAuditStore } from './kysely-audit-store.js';
import { KyselyDigestStore } from './kysely-digest-store.js';
import { KyselyOutboxStore } from './kysely-outbox-store.js';
import { KyselyProfileStore } from './kysely-profile-store.js';
import { KyselyPromoStore } from './kysely-promo-store.js';
import { KyselySessionStore } from './kysely-session-store.js';
import { KyselyThrottleStore } from './kysely-throttle-store.js';
import { KyselyTokenStore } from './kysely-token-store.js';
import { KyselyTwoFactorStore } from './kysely-two-factor-store.js';
import type { Database } from './schema.js';
import { StoreReadCache } from './store-read-cache.js';
import { type Kysely, sql } from 'kysely';

/** The feature stores, bound either to the database or to one open transaction. */
export interface Stores {
  accounts: AccountStore;
  tokens: TokenStore;
  sessions: SessionStore;
  outbox: OutboxStore;
  profiles: ProfileStore;
  digest: DigestStore;
  promos: PromoStore;
  admin: AdminStore;
  throttle: ThrottleStore;
  audit: AuditStore;
  twoFactor: TwoFactorStore;
  apiTokens: ApiTokenStore;
}

/** The stores of one database, and the way to run several of their calls in one transaction. */
export interface Store extends Stores {
  dialect: Dialect;
  description: string;
  /** The PostgreSQL connection pool's counts, or null on SQLite. */
  pool: PoolUsage | null;
  /** Checks that the database responds; throws when it does not. */
  ping(): Promise<void>;
  /** Runs `work` in one transaction: every write in it is committed together or not at all. */
  transaction<T>(work: (stores: Stores) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens the database, brings its schema up to date and returns the stores over it. */
export async function openStore(
  databaseUrl: string,
  pool?: PoolSettings,
  onPoolError?: (error: Error) => void,
  observeStatements?: StatementObserver,
): Promise<Store> {
  const handle = openDatabase(databaseUrl, pool, onPoolError, observeStatements);

  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await handle.db.destroy();
    throw error;
  }
  return storeOver(handle);
}

function storeOver(handle: DatabaseHandle): Store {
  return {
    ...storesOver(handle.db, handle.dialect, handle.changes ? readCaches(handle.changes) : null),
    dialect: handle.dialect,
    description: handle.description,
    pool: handle.pool,
    ping: async () => {
      await sql`select 1`.execute(handle.db);
    },
    transaction: (work) =>
      handle.db.transaction().execute(async (trx) => {
        // Audit records are appended after the work, as the last statements, so that the lock on the audit
        // chain's head is held only until the commit, and its holder waits for no lock after taking it.
        const audit = new KyselyAuditStore(trx, 'deferred');
        const result = await work({ ...storesOver(trx, handle.dialect), audit });
        await audit.flush();
        return result;
      }),
    close: () => handle.db.destroy(),
  };
}

/** The read caches of a SQLite store; see StoreReadCache. */
interface ReadCaches {
  sessions: StoreReadCache<LiveSession>;
  profiles: StoreReadCache<StoredProfile>;
}

// Entries kept per cache at most: a live session or a profile is a few hundred bytes to a few kilobytes.
const MAX_CACHED_READS = 10_000;

function readCaches(changes: ChangeClock): ReadCaches {
  return { sessions: new StoreReadCache(changes, MAX_CACHED_READS), profiles: new StoreReadCache(changes, MAX_CACHED_READS) };
}

function storesOver(db: Kysely<Database>, dialect: Dialect, caches: ReadCaches | null = null): Stores {
  return {
    accounts: new KyselyAccountStore(db),
    tokens: new KyselyTokenStore(db),
    sessions: new KyselySessionStore(db, caches?.sessions ?? null),
    outbox: new KyselyOutboxStore(db, dialect),
    profiles: new KyselyProfileStore(db, dialect, caches?.profiles ?? null),
    digest: new KyselyDigestStore(db),
    promos: new KyselyPromoStore(db),
    admin: new KyselyAdminStore(db),
    throttle: new KyselyThrottleStore(db),
    audit: new KyselyAuditStore(db, 'immediate'),
    twoFactor: new KyselyTwoFactorStore(db),
    apiTokens: new KyselyApiTokenStore(db, dialect),
  };
}
