import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';

import type { Counter, ThrottleStore } from './throttle-store.js';

// Every operation is one Lua script, which Redis runs atomically. Times passed to Redis are relative (PX,
// PEXPIRE), so that the clocks of Redis and of the nodes need not agree.
const HIT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 or ARGV[2] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}`;

const UNHIT = `
local count = tonumber(redis.call('GET', KEYS[1]))
if count and count > 0 then redis.call('DECR', KEYS[1]) end
return 0`;

const PEEK = `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}`;

const HOLD = `
if redis.call('SET', KEYS[1], '0', 'NX', 'PX', ARGV[1]) then return -1 end
return redis.call('PTTL', KEYS[1])`;

const EXTEND_HOLD = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '0', 'PX', ARGV[1]) end
return 0`;

// A failed command is logged once, then at most once a minute while Redis stays unavailable, with the
// number of failures in between.
const ERROR_LOG_INTERVAL_MS = 60_000;
// Short, because a request waits for these before its password is checked.
const COMMAND_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 2_000;

/**
 * Throttling counters in Redis, shared by every node that uses the same server and key prefix. Redis
 * expires the keys itself, so there is nothing to sweep.
 *
 * When Redis cannot be reached, this store fails open: a hit counts as zero and every hold is granted, so
 * requests go on unthrottled (each still costs a full password hash) rather than every login failing.
 * Each such failure is logged, at most once a minute.
 */
export class RedisThrottleStore implements ThrottleStore {
  private readonly client: Redis;
  private failuresSinceLog = 0;
  private lastErrorLogAt = 0;

  constructor(
    url: string,
    private readonly keyPrefix: string,
    private readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>,
  ) {
    this.client = new Redis(url, {
      // Without a connection a command fails at once instead of waiting in a queue, so requests fail open.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
    });

    // The client reconnects by itself; an 'error' event without a listener would end the process.
    this.client.on('error', (error: Error) => this.logFailure(error));
    this.client.on('ready', () => {
      if (this.lastErrorLogAt !== 0) this.log.info({ redis: this.description }, 'Redis is reachable again; throttling resumes');
      this.lastErrorLogAt = 0;
      this.failuresSinceLog = 0;
    });
  }

  /** The Redis address without credentials, for logs. */
  get description(): string {
    const { host, port, db } = this.client.options;
    return `redis://${host}:${port}/${db ?? 0}`;
  }

  /** Waits until the first connection is ready, or for `timeoutMs`; requests before that fail open. */
  async connect(timeoutMs = CONNECT_TIMEOUT_MS): Promise<boolean> {
    if (this.client.status === 'ready') return true;

    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.client.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  async hit(key: string, now: number, expiresAt: number, sliding: boolean): Promise<Counter> {
    const ttl = Math.max(1, expiresAt - now);
    const reply = await this.run(HIT, key, [ttl, sliding ? 1 : 0]);
    if (!Array.isArray(reply)) return { count: 0, expiresAt: now };

    const [count, remaining] = reply as [number, number];
    return { count, expiresAt: now + Math.max(0, remaining) };
  }

  async unhit(key: string): Promise<void> {
    await this.run(UNHIT, key, []);
  }

  async peek(key: string, now: number): Promise<Counter | null> {
    const reply = await this.run(PEEK, key, []);
    if (!Array.isArray(reply)) return null;

    const [value, remaining] = reply as [string | null | false, number];
    if (typeof value !== 'string' || remaining <= 0) return null;
    return { count: Number(value), expiresAt: now + remaining };
  }

  async hold(key: string, now: number, until: number): Promise<number | null> {
    const reply = await this.run(HOLD, key, [Math.max(1, until - now)]);
    if (typeof reply !== 'number' || reply < 0) return null;
    return now + reply;
  }

  async extendHold(key: string, now: number, until: number): Promise<void> {
    await this.run(EXTEND_HOLD, key, [Math.max(1, until - now)]);
  }

  async clear(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      await this.client.del(...keys.map((key) => this.keyPrefix + key));
    } catch (error) {
      this.logFailure(error as Error);
    }
  }

  async sweep(): Promise<number> {
    return 0;
  }

  /** Runs a script on one key; returns null instead of throwing when Redis fails, so that callers fail open. */
  private async run(script: string, key: string, args: number[]): Promise<unknown> {
    try {
      return await this.client.eval(script, 1, this.keyPrefix + key, ...args);
    } catch (error) {
      this.logFailure(error as Error);
      return null;
    }
  }

  private logFailure(error: Error): void {
    this.failuresSinceLog += 1;
    const now = Date.now();
    if (now - this.lastErrorLogAt < ERROR_LOG_INTERVAL_MS) return;

    this.log.warn(
      { redis: this.description, reason: error.message, failures: this.failuresSinceLog },
      'Redis is unavailable; requests are not throttled until it answers again',
    );
    this.lastErrorLogAt = now;
    this.failuresSinceLog = 0;
  }
}
