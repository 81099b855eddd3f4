import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';

import type { OutboxStore } from '../mail/outbox-store.js';
import type { HashLimiter } from '../passwords/hash-limiter.js';
import type { PoolUsage } from '../storage/database.js';

/**
 * Registers the gauges that are read when Prometheus scrapes rather than updated as things happen: the
 * password hash queue, the outbox, and on PostgreSQL the connection pool. SQLite has no pool, so it gets
 * no pool gauges. Each gauge's `aggregator` sets how the primary of WORKERS=N merges the workers' values:
 * a process's own queue and pool are summed, and the outbox, the same database for every worker, is not.
 */
export function registerResourceGauges(
  registry: Registry,
  sources: { limiter: HashLimiter; outbox: OutboxStore; pool: PoolUsage | null; poolSize: number; logger: Logger },
): void {
  registerHashGauges(registry, sources.limiter);
  registerOutboxGauge(registry, sources.outbox, sources.logger);
  if (sources.pool) registerPoolGauges(registry, sources.pool, sources.poolSize);
}

function registerHashGauges(registry: Registry, limiter: HashLimiter): void {
  new Gauge({
    name: 'sigma_accounts_password_hash_queue_length',
    help: 'Password hashes waiting for a turn; a process at HASH_QUEUE_LIMIT rejects further password checks with 503.',
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set(limiter.queueLength);
    },
  });

  new Gauge({
    name: 'sigma_accounts_password_hashes_active',
    help: 'Password hashes being computed; at most HASH_CONCURRENCY in each process.',
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set(limiter.active);
    },
  });
}

/**
 * Registers the outbox gauge, which counts the rows of the shared database, so every node reports the same
 * numbers. While the count fails, the gauge has no sample rather than a stale one, and only the first
 * failure of a run of them is logged.
 */
function registerOutboxGauge(registry: Registry, outbox: OutboxStore, logger: Logger): void {
  let failing = false;

  new Gauge({
    name: 'sigma_accounts_outbox_messages',
    help: 'Unsent messages in the outbox of the whole database: queued for delivery, or failed (given up after MAIL_MAX_ATTEMPTS).',
    labelNames: ['state'],
    registers: [registry],
    // Every worker counts the same rows, a moment apart, so the highest of their counts is reported, not the sum.
    aggregator: 'max',
    async collect() {
      try {
        const counts = await outbox.countUnsent();
        this.set({ state: 'queued' }, counts.queued);
        this.set({ state: 'failed' }, counts.failed);
        if (failing) logger.info('the outbox can be counted for metrics again');
        failing = false;
      } catch (error) {
        this.reset();
        if (!failing) logger.warn({ err: error }, 'the outbox could not be counted for metrics; its gauge has no sample until it can');
        failing = true;
      }
    },
  });
}

function registerPoolGauges(registry: Registry, pool: PoolUsage, poolSize: number): void {
  new Gauge({
    name: 'sigma_accounts_database_pool_connections',
    help: 'PostgreSQL connections of this node: idle, or in use by a query or transaction.',
    labelNames: ['state'],
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
    },
  });

  new Gauge({
    name: 'sigma_accounts_database_pool_waiting_requests',
    help: 'Requests of this node for a PostgreSQL connection that wait because every connection is in use.',
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set(pool.waitingCount);
    },
  });

  const maxConnections = new Gauge({
    name: 'sigma_accounts_database_pool_max_connections',
    help: 'The most PostgreSQL connections this node opens: DATABASE_POOL_SIZE for each of its processes.',
    registers: [registry],
    aggregator: 'sum',
  });
  maxConnections.set(poolSize);
}
