import { createHash } from 'node:crypto';

import type { FastifyBaseLogger } from 'fastify';

import type { PwnedPasswordsSettings } from '../config.js';
import { ApiError } from '../http/api-error.js';
import { normalizePassword } from './password-policy.js';

/** Outcome of one range query. `count` is how often the password appears in the breach corpus. */
export type PwnedLookup = { kind: 'found'; count: number } | { kind: 'not-found' } | { kind: 'unavailable'; reason: string };

// A padded range response is about 40 KiB; a much larger body is not the range API.
const MAX_RESPONSE_BYTES = 1024 * 1024;
const RETRY_AFTER_SECONDS = 5;
// One line of a range response: the other 35 hex digits of a SHA-1, and a count that is 0 for padding.
const RANGE_LINE = /^([0-9A-Fa-f]{35}):(\d+)$/;

/**
 * Client of the Pwned Passwords range API (k-anonymity): the server sends only the first five hex digits of
 * the password's SHA-1 and looks for the other 35 in the response, so neither the password nor its hash leaves
 * this process. The request enables padding (`Add-Padding: true`), and padding lines have a count of 0.
 */
export class PwnedPasswords {
  constructor(private readonly settings: PwnedPasswordsSettings) {}

  /**
   * Returns why a new password may not be set, or null when the service does not list it. When the request
   * fails or times out, it logs a warning to `log` (the request's logger), then returns null with
   * PWNED_PASSWORDS_FAIL=open and throws a 503 with `closed`.
   */
  async violation(password: string, log: Pick<FastifyBaseLogger, 'warn'>): Promise<string | null> {
    const lookup = await this.lookUp(password);

    if (lookup.kind === 'found') {
      const times = lookup.count === 1 ? 'once' : `${lookup.count} times`;
      return `password has appeared ${times} in known data breaches (Have I Been Pwned); choose another`;
    }
    if (lookup.kind === 'not-found') return null;

    log.warn({ reason: lookup.reason, failMode: this.settings.failMode }, 'Pwned Passwords check failed');
    if (this.settings.failMode === 'open') return null;
    throw new ApiError(
      503,
      [{ error_type: 'backend', error_message: 'the check of new passwords against known data breaches is unavailable; retry later', error_point: null }],
      { 'Retry-After': String(RETRY_AFTER_SECONDS) },
    );
  }

  /** Queries the range of `password`'s SHA-1 (of its NFC form, the form that is hashed and stored). */
  async lookUp(password: string): Promise<PwnedLookup> {
    const sha1 = createHash('sha1').update(normalizePassword(password), 'utf8').digest('hex').toUpperCase();
    const prefix = sha1.slice(0, 5);
    const suffix = sha1.slice(5);

    let body: string;
    try {
      const response = await fetch(`${this.settings.url}${prefix}`, {
        headers: { 'Add-Padding': 'true', 'User-Agent': 'sigma-accounts' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return { kind: 'unavailable', reason: `HTTP status ${response.status}` };
      }
      body = await readText(response, MAX_RESPONSE_BYTES);
    } catch (error) {
      return { kind: 'unavailable', reason: failureReason(error, this.settings.timeoutMs) };
    }

    return findSuffix(body, suffix);
  }
}

function findSuffix(body: string, suffix: string): PwnedLookup {
  let rangeLines = 0;

  for (const line of body.split('\n')) {
    const match = RANGE_LINE.exec(line.trim());
    if (!match) continue;

    rangeLines += 1;
    if (match[1]?.toUpperCase() === suffix) {
      const count = Number(match[2]);
      return count > 0 ? { kind: 'found', count } : { kind: 'not-found' };
    }
  }

  // Every range has hundreds of entries, so a body without any is an error page or another service.
  return rangeLines > 0 ? { kind: 'not-found' } : { kind: 'unavailable', reason: 'the response is not a Pwned Passwords range' };
}

/** Reads a response body as UTF-8, failing once it exceeds `maxBytes`. */
async function readText(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';

  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;

    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`the response is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function failureReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;

  // fetch reports network errors as "fetch failed" with the system error as the cause.
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
