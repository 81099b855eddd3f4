import type { FastifyInstance } from 'fastify';

import type { Config } from '../config.js';
import type { Store } from '../storage/store.js';
import { CredentialThrottle } from './credential-throttle.js';
import { MailRequestLimiter } from './mail-request-limiter.js';
import type { ThrottleListener } from './throttle-limit.js';
import type { ThrottleStore } from './throttle-store.js';

/** The throttles that route handlers consult. */
export interface Throttling {
  credentials: CredentialThrottle;
  mailRequests: MailRequestLimiter;
}

// Expired counters are deleted every five minutes rather than on each request.
const SWEEP_INTERVAL_MS = 5 * 60 * 1000;

/**
 * Builds the throttles over Redis when REDIS_URL is set, else over the database, and ties their upkeep
 * (the sweep of expired rows, the Redis connection) to the app's lifetime. `onThrottled` receives the limit of every 429.
 */
export async function startThrottling(app: FastifyInstance, config: Readonly<Config>, store: Store, onThrottled?: ThrottleListener): Promise<Throttling> {
  const counters = config.throttle.enabled ? await openCounters(app, config, store) : store.throttle;
  const findEmailKey = async (accountUuid: string) => (await store.accounts.findByUuid(accountUuid))?.emailKey ?? null;

  return {
    credentials: new CredentialThrottle(counters, config.throttle, findEmailKey, onThrottled),
    mailRequests: new MailRequestLimiter(counters, config.throttle, onThrottled),
  };
}

async function openCounters(app: FastifyInstance, config: Readonly<Config>, store: Store): Promise<ThrottleStore> {
  if (config.redisUrl !== null) {
    // Loaded only here: the Redis client adds about 14 MB to a process that has no use for it.
    const { RedisThrottleStore } = await import('./redis-throttle-store.js');
    const redis = new RedisThrottleStore(config.redisUrl, config.redisKeyPrefix, app.log.child({ component: 'throttle' }));
    app.addHook('onClose', () => redis.close());

    if (await redis.connect()) {
      app.log.info({ redis: redis.description }, 'throttling counters are kept in Redis');
    } else {
      app.log.warn({ redis: redis.description }, 'Redis is not reachable yet; requests are not throttled until it is');
    }
    return redis;
  }

  const sweeper = setInterval(() => {
    store.throttle.sweep(Date.now()).catch((error: unknown) => app.log.warn({ err: error }, 'expired throttling counters could not be deleted'));
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));

  return store.throttle;
}
