import { createHash } from 'node:crypto';

import type { FastifyRequest } from 'fastify';

import type { ThrottleSettings } from '../config.js';
import { tooManyRequestsError } from '../http/api-error.js';
import { clientAddressKey } from './client-address.js';
import type { ThrottleLimit, ThrottleListener } from './throttle-limit.js';
import type { ThrottleStore } from './throttle-store.js';

/** The actions that mail an address chosen by an unauthenticated client. */
export type MailRequestAction = 'create' | 'request_password_reset';

interface ActionLimits {
  perIp: number;
  perAddress: number;
  windowSeconds: number;
  ipLimit: ThrottleLimit;
  addressLimit: ThrottleLimit;
  ipMessage: (seconds: number) => string;
  addressMessage: (seconds: number) => string;
}

/**
 * Limits `create` and `request_password_reset` per client IP and per email address, each in a fixed window.
 * Every request counts, whatever its outcome, and the per-address count does not depend on whether the
 * address is registered, so a 429 reveals nothing about it. The per-address mail throttle still applies
 * within these limits.
 */
export class MailRequestLimiter {
  private readonly limits: Record<MailRequestAction, ActionLimits>;

  constructor(
    private readonly store: ThrottleStore,
    private readonly settings: ThrottleSettings,
    private readonly onThrottled: ThrottleListener = () => {},
  ) {
    this.limits = {
      create: {
        perIp: settings.createPerIp,
        perAddress: settings.createPerAddress,
        windowSeconds: settings.createWindowSeconds,
        ipLimit: 'create_per_ip',
        addressLimit: 'create_per_address',
        ipMessage: (seconds) => `too many sign-ups from this IP address; retry after ${seconds} seconds`,
        addressMessage: (seconds) => `too many sign-ups for this email address; retry after ${seconds} seconds`,
      },
      request_password_reset: {
        perIp: settings.resetPerIp,
        perAddress: settings.resetPerAddress,
        windowSeconds: settings.resetWindowSeconds,
        ipLimit: 'reset_per_ip',
        addressLimit: 'reset_per_address',
        ipMessage: (seconds) => `too many password reset requests from this IP address; retry after ${seconds} seconds`,
        addressMessage: (seconds) => `too many password reset requests for this email address; retry after ${seconds} seconds`,
      },
    };
  }

  /** Counts one request for the client IP and for `emailKey` (a normalised address); throws 429 over either limit. */
  async take(request: FastifyRequest, action: MailRequestAction, emailKey: string): Promise<void> {
    if (!this.settings.enabled) return;

    const limits = this.limits[action];
    const now = Date.now();
    const expiresAt = now + limits.windowSeconds * 1000;

    const perIp = await this.store.hit(`${action}:ip:${clientAddressKey(request.ip)}`, now, expiresAt, false);
    if (perIp.count > limits.perIp) {
      request.log.info({ limit: `${action} per IP`, requests: perIp.count }, 'request throttled');
      this.onThrottled(limits.ipLimit);
      throw tooManyRequestsError(perIp.expiresAt - now, limits.ipMessage);
    }

    const digest = createHash('sha256').update(emailKey).digest('base64url').slice(0, 32);
    const perAddress = await this.store.hit(`${action}:address:${digest}`, now, expiresAt, false);
    if (perAddress.count > limits.perAddress) {
      request.log.info({ limit: `${action} per address`, requests: perAddress.count }, 'request throttled');
      this.onThrottled(limits.addressLimit);
      throw tooManyRequestsError(perAddress.expiresAt - now, limits.addressMessage);
    }
  }
}
