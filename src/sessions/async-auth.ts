import { createHmac } from 'node:crypto';

import { constantTimeEqual } from '../crypto-tokens.js';

/** Lifetime of an `async_auth` cookie, in seconds. */
export const ASYNC_AUTH_TTL_SECONDS = 120;
export const ASYNC_AUTH_COOKIE = 'async_auth';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Signs and checks `async_auth` values: `<account uuid>.<expiry, Unix seconds>.<HMAC-SHA-256, base64url>`,
 * which a companion service (such as a websocket server) hands back to learn who is connecting. The first
 * key signs and every key verifies, so keys rotate by putting a new one first.
 */
export class AsyncAuthSigner {
  constructor(private readonly keys: readonly string[]) {
    if (keys.length === 0) throw new Error('AsyncAuthSigner needs at least one key');
  }

  sign(accountUuid: string, now: number): string {
    const expires = Math.floor(now / 1000) + ASYNC_AUTH_TTL_SECONDS;
    const payload = `${accountUuid}.${expires}`;
    return `${payload}.${mac(this.keys[0] ?? '', payload)}`;
  }

  /** Returns the account uuid of a value signed by one of the keys and not expired at `now`, else null. */
  verify(value: string, now: number): string | null {
    const [accountUuid = '', expiresText = '', signature = '', extra] = value.split('.');
    if (extra !== undefined || !UUID.test(accountUuid) || !/^\d{1,12}$/.test(expiresText)) return null;
    if (Number(expiresText) * 1000 <= now) return null;

    const payload = `${accountUuid}.${expiresText}`;
    return this.keys.some((key) => constantTimeEqual(mac(key, payload), signature)) ? accountUuid : null;
  }
}

function mac(key: string, payload: string): string {
  return createHmac('sha256', key).update(payload, 'utf8').digest('base64url');
}
