import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

import { DELIVERY_RESULTS, type DeliveryResult } from '../mail/mail-worker.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { Store } from '../storage/store.js';
import { THROTTLE_LIMITS, type ThrottleLimit } from '../throttle/throttle-limit.js';
import { BearerTokenCheck } from './bearer-token.js';
import { LOGIN_ACTIONS, LOGIN_OUTCOMES } from './login-outcomes.js';
import { registerResourceGauges } from './resource-gauges.js';
import { PrimaryMetricsClient, shareMetricsWithPrimary } from './worker-metrics.js';

// Responses take from under a millisecond (a session check on SQLite) to tens of milliseconds (a login,
// which computes an argon2id hash), and longer under load.
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// One argon2id hash takes milliseconds at the OWASP minimum and up to seconds with HASH_MEMORY_KIB and
// HASH_TIME_COST raised.
const HASH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type RequestLabel = 'route' | 'action' | 'method' | 'status';

export interface MetricSources {
  store: Store;
  hasher: PasswordHasher;
  /** DATABASE_POOL_SIZE, reported beside the pool's counts. */
  poolSize: number;
  /** METRICS_TOKEN, or null when `/metrics` needs no token. */
  token: string | null;
  logger: Logger;
  /** Whether this server is one worker process of WORKERS=N, whose primary gathers the metrics of every worker. */
  clusterWorker: boolean;
}

/**
 * The Prometheus metrics of one server, in a registry of its own so that several servers in one process
 * (as in the tests) keep apart. Besides the `sigma_accounts_` metrics it contains prom-client's default
 * `process_` and `nodejs_` metrics, among them the event-loop delay (`nodejs_eventloop_lag_seconds`).
 *
 * In a worker of WORKERS=N the default metrics carry a `pid` label, because they describe one process
 * each, and the registry is shared with the primary process, which sums the other metrics of every worker.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  /** Its `_count` series is the number of responses. */
  readonly requestDuration: Histogram<RequestLabel>;
  readonly loginAttempts: Counter<'action' | 'outcome'>;
  /** The check of METRICS_TOKEN, or null when no token is set. */
  readonly tokenCheck: BearerTokenCheck | null;

  private readonly throttled: Counter<'limit'>;
  private readonly deliveries: Counter<'result'>;
  /** The way to every worker's metrics in a worker of WORKERS=N, else null. */
  private readonly primary: PrimaryMetricsClient | null;

  constructor(sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry, labels: sources.clusterWorker ? { pid: String(process.pid) } : {} });
    if (sources.clusterWorker) {
      // The pid makes every series one worker's, so the primary has nothing to merge, and `first` keeps each
      // series. prom-client's own aggregator of process_start_time_seconds, `omit`, would drop it.
      for (const metric of this.registry.getMetricsAsArray()) metric.aggregator = 'first';
    }
    this.tokenCheck = sources.token === null ? null : new BearerTokenCheck(sources.token);

    this.requestDuration = new Histogram({
      name: 'sigma_accounts_http_request_duration_seconds',
      help: 'Time from request to response by route pattern, action (the do parameter of action routes), method and status.',
      labelNames: ['route', 'action', 'method', 'status'],
      buckets: REQUEST_BUCKETS,
      registers: [this.registry],
    });

    this.loginAttempts = new Counter({
      name: 'sigma_accounts_login_attempts_total',
      help: 'Responses to login and verify_otp by outcome: success, second_factor_pending, failure (401), throttled (429), unavailable (503), rejected (other 4xx) or error (other 5xx).',
      labelNames: ['action', 'outcome'],
      registers: [this.registry],
    });

    this.throttled = new Counter({
      name: 'sigma_accounts_throttled_requests_total',
      help: 'Requests rejected with 429, by the limit they reached (named after its THROTTLE_ setting).',
      labelNames: ['limit'],
      registers: [this.registry],
    });

    this.deliveries = new Counter({
      name: 'sigma_accounts_mail_delivery_attempts_total',
      help: 'Mail delivery attempts of this node by result: sent, retry (failed, tried again later) or given_up (failed for the last time).',
      labelNames: ['result'],
      registers: [this.registry],
    });

    const hashDuration = new Histogram({
      name: 'sigma_accounts_password_hash_duration_seconds',
      help: 'Time to compute one argon2id hash or verification, without the wait for a turn.',
      buckets: HASH_BUCKETS,
      registers: [this.registry],
    });
    sources.hasher.limiter.onComputed = (seconds) => hashDuration.observe(seconds);

    registerResourceGauges(this.registry, {
      limiter: sources.hasher.limiter,
      outbox: sources.store.outbox,
      pool: sources.store.pool,
      poolSize: sources.poolSize,
      logger: sources.logger,
    });

    // Every known series starts at zero, so that rates and alerts see it before its first event.
    for (const action of LOGIN_ACTIONS) {
      for (const outcome of LOGIN_OUTCOMES) this.loginAttempts.inc({ action, outcome }, 0);
    }
    for (const limit of THROTTLE_LIMITS) this.throttled.inc({ limit }, 0);
    for (const result of DELIVERY_RESULTS) this.deliveries.inc({ result }, 0);

    this.primary = sources.clusterWorker ? new PrimaryMetricsClient() : null;
    if (sources.clusterWorker) shareMetricsWithPrimary(this.registry);
  }

  /** Counts a request that a throttle rejected. The throttles get it as their ThrottleListener. */
  readonly countThrottled = (limit: ThrottleLimit): void => {
    this.throttled.inc({ limit });
  };

  /** Counts one mail delivery attempt by its result. */
  readonly countDelivery = (result: DeliveryResult): void => {
    this.deliveries.inc({ result });
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Collects every metric and returns them in the Prometheus text format. In a worker of WORKERS=N they are
   * the metrics of every worker, gathered by the primary; it rejects with MetricsUnavailableError when they
   * cannot be.
   */
  render(): Promise<string> {
    return this.primary ? this.primary.request() : this.registry.metrics();
  }
}
