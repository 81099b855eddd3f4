import { createHash } from 'node:crypto';

import type { FastifyBaseLogger, FastifyRequest } from 'fastify';

import { parseEmailForLookup } from '../accounts/email-address.js';
import type { ThrottleSettings } from '../config.js';
import { tooManyRequestsError } from '../http/api-error.js';
import { clientAddressKey } from './client-address.js';
import type { ThrottleListener } from './throttle-limit.js';
import type { ThrottleStore } from './throttle-store.js';

/** The result of a password check for throttling: `neutral` when no password was compared, or the check failed for another reason. */
export type CheckOutcome = 'success' | 'failure' | 'neutral';

/**
 * Whose secret a check tests: the password of the username a client sent or of an authenticated caller's
 * account, or the second factor of an account. Second-factor failures count apart from password ones, so
 * that a right password, which clears the password failures, never clears them.
 */
export type CheckSubject = { username: string } | { accountUuid: string } | { secondFactorOf: string };

interface CheckKeys {
  ip: string;
  failures: string;
  delay: string;
}

// Exponents above this already exceed any delay cap the settings allow (2^30 s is 34 years).
const MAX_DOUBLINGS = 30;

const ipMessage = (seconds: number) =>
  `too many failed password attempts from this IP address; retry after ${seconds} seconds`;
// The same message whether or not an account has the username, so that a 429 reveals nothing about it.
const accountMessage = (seconds: number) =>
  `too many failed password attempts for this account; retry after ${seconds} seconds, or reset the password with request_password_reset`;

/**
 * Limits password guessing, before the password hash is computed. Failed checks are counted per client IP
 * in a fixed window, with a hard limit, and per account, where each attempt past the free ones waits for a
 * delay that doubles with every further failure, up to a cap. A success resets the account's failures, and
 * successes never count, so a client that always sends the right password is never slowed.
 *
 * A check counts against its IP from the moment it starts until it succeeds, so that a burst of parallel
 * guesses cannot all pass before the first failure is recorded. More checks in flight at once from one IP
 * than `failuresPerIp` are therefore refused even when they would succeed.
 *
 * NOTE: below `failuresPerAccount`, checks of one account are not reserved, so a burst of parallel guesses
 * from many IPs gets all of its guesses checked once. The per-account delay applies from then on.
 * NOTE: anyone can put an account into its delay by sending wrong passwords for its username, so its owner
 * may also get 429 for at most `accountMaxDelaySeconds` at a time. That is the price of a delay instead of
 * a lockout.
 */
export class CredentialThrottle {
  constructor(
    private readonly store: ThrottleStore,
    private readonly settings: ThrottleSettings,
    /** Returns the normalised address of an account, so that its checks count with the logins to it. */
    private readonly findEmailKey: (accountUuid: string) => Promise<string | null>,
    private readonly onThrottled: ThrottleListener = () => {},
  ) {}

  /**
   * Runs `check` unless the client IP or the account is throttled, in which case it throws a 429 without
   * calling it. `outcomeOf` classifies the result, and an exception from `check` counts as neutral.
   */
  async guard<T>(request: FastifyRequest, subject: CheckSubject, check: () => Promise<T>, outcomeOf: (result: T) => CheckOutcome): Promise<T> {
    if (!this.settings.enabled) return check();

    const keys = await this.keysOf(request.ip, subject);
    const failuresBefore = await this.admit(keys, Date.now(), request.log);

    let outcome: CheckOutcome = 'neutral';
    try {
      const result = await check();
      outcome = outcomeOf(result);
      return result;
    } finally {
      await this.settle(keys, outcome, failuresBefore, Date.now());
    }
  }

  /** Counts the attempt against the IP and takes the account's turn. Throws 429 when either rejects it. */
  private async admit(keys: CheckKeys, now: number, log: FastifyBaseLogger): Promise<number> {
    const windowMs = this.settings.failuresWindowSeconds * 1000;
    const ipCount = await this.store.hit(keys.ip, now, now + windowMs, false);
    if (ipCount.count > this.settings.failuresPerIp) {
      log.info({ limit: 'failures per IP', failures: ipCount.count }, 'password check throttled');
      this.onThrottled('failures_per_ip');
      throw tooManyRequestsError(ipCount.expiresAt - now, ipMessage);
    }

    const failures = (await this.store.peek(keys.failures, now))?.count ?? 0;
    if (failures < this.settings.failuresPerAccount) return failures;

    // One attempt per delay: the hold is placed atomically, so of several racing attempts only one goes on,
    // and it keeps the hold while its password is checked.
    const heldUntil = await this.store.hold(keys.delay, now, now + this.delayAfter(failures));
    if (heldUntil !== null) {
      // This attempt compared no password, so it does not count against the IP.
      await this.store.unhit(keys.ip, now);
      log.info({ limit: 'failures per account', failures }, 'password check throttled');
      this.onThrottled('failures_per_account');
      throw tooManyRequestsError(heldUntil - now, accountMessage);
    }
    return failures;
  }

  private async settle(keys: CheckKeys, outcome: CheckOutcome, failuresBefore: number, now: number): Promise<void> {
    if (outcome === 'failure') {
      const windowMs = this.settings.accountWindowSeconds * 1000;
      const failures = await this.store.hit(keys.failures, now, now + windowMs, true);
      if (failures.count >= this.settings.failuresPerAccount) {
        await this.store.extendHold(keys.delay, now, now + this.delayAfter(failures.count));
      }
      return;
    }

    // Only failures count against the IP.
    await this.store.unhit(keys.ip, now);
    if (outcome === 'success' && failuresBefore > 0) await this.store.clear([keys.failures, keys.delay]);
  }

  /** Milliseconds an account waits after `failures` failed checks, once they reach the free ones. */
  private delayAfter(failures: number): number {
    const doublings = Math.min(failures - this.settings.failuresPerAccount, MAX_DOUBLINGS);
    const seconds = Math.min(this.settings.accountDelaySeconds * 2 ** doublings, this.settings.accountMaxDelaySeconds);
    return seconds * 1000;
  }

  private async keysOf(ip: string, subject: CheckSubject): Promise<CheckKeys> {
    let account: string;
    if ('username' in subject) account = usernameKey(subject.username);
    else if ('accountUuid' in subject) account = await this.accountKey(subject.accountUuid);
    else account = `second-factor:${await this.accountKey(subject.secondFactorOf)}`;
    // Addresses are stored only as digests, so that the counters keep no copy of what anyone typed.
    const digest = createHash('sha256').update(account).digest('base64url').slice(0, 32);
    return {
      ip: `credentials:ip:${clientAddressKey(ip)}`,
      failures: `credentials:account:${digest}`,
      delay: `credentials:delay:${digest}`,
    };
  }

  private async accountKey(accountUuid: string): Promise<string> {
    const emailKey = await this.findEmailKey(accountUuid);
    return emailKey === null ? `uuid:${accountUuid}` : `email:${emailKey}`;
  }
}

/**
 * Returns the key that counts a username's failures: the key that authentication looks the account up by,
 * so that every spelling that finds one account counts together, whether or not an account has it.
 */
function usernameKey(username: string): string {
  const parsed = parseEmailForLookup(username);
  return parsed.ok ? `email:${parsed.email.key}` : `other:${username.trim().toLowerCase()}`;
}

/** The outcome of a check that returns what it authenticated, or null when the password was wrong. */
export function successUnlessNull(result: unknown): CheckOutcome {
  return result === null ? 'failure' : 'success';
}
