import { createHash, createHmac, randomBytes } from 'node:crypto';

import type { Account } from '../accounts/account-store.js';
import { constantTimeEqual } from '../crypto-tokens.js';
import { normalizePassword } from '../passwords/password-policy.js';
import type { DigestStore } from './digest-store.js';
import { parseDigestParams, quote } from './digest-header.js';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

/** The outcome of checking a Digest `Authorization` header. */
export type DigestOutcome =
  | { kind: 'authenticated'; account: Account }
  /** The credentials were right but the nonce expired: the client retries with the fresh one. */
  | { kind: 'stale' }
  /** The header names another request target than the one it came with (RFC 7616 specifies 400). */
  | { kind: 'wrong-uri' }
  /** The response was compared and did not match, or the username has no active account with Digest hashes. */
  | { kind: 'wrong-credentials' }
  /** The header was rejected before any password-derived value was compared: malformed, or a replay. */
  | { kind: 'rejected' };

export interface DigestRequest {
  header: string;
  method: string;
  /** The request target exactly as sent: path and query string. */
  target: string;
}

const NONCE_KEY = 'digest-nonce-key';
// Counts above this are refused rather than stored: eight hex digits is what RFC 7616 sends.
const NONCE_COUNT = /^[0-9a-fA-F]{8}$/;

/**
 * HTTP Digest authentication (RFC 7616, with the MD5 variant CloudSigma documents): server-signed nonces
 * that expire, a nonce count checked against replay in the store, and `qop=auth` only.
 */
export class DigestAuth {
  private key: Buffer | null = null;

  constructor(
    private readonly store: DigestStore,
    private readonly realm: string,
    private readonly nonceTtlSeconds: number,
    private readonly findAccount: (username: string) => Promise<Account | null>,
  ) {}

  /** Loads the nonce signing key shared by every node of the database. */
  async init(): Promise<void> {
    const value = await this.store.secret(NONCE_KEY, () => randomBytes(32).toString('base64url'), Date.now());
    this.key = Buffer.from(value, 'base64url');
  }

  /** Returns the challenges for a 401: one per algorithm, sharing one fresh nonce. */
  challenges(stale = false): string[] {
    const nonce = this.newNonce(Date.now());
    const opaque = createHash('sha256').update(this.realm).digest('hex').slice(0, 32);

    return (['SHA-256', 'MD5'] as const).map(
      (algorithm) =>
        `Digest realm=${quote(this.realm)}, qop="auth", algorithm=${algorithm}, nonce=${quote(nonce)}, ` +
        `opaque=${quote(opaque)}${stale ? ', stale=true' : ''}`,
    );
  }

  /** Both stored forms of H(username:realm:password), written when a password is set. */
  hashesFor(email: string, password: string): { md5: string; sha256: string } {
    const secret = `${email}:${this.realm}:${normalizePassword(password)}`;
    return { md5: hash('MD5', secret), sha256: hash('SHA-256', secret) };
  }

  async verify(request: DigestRequest): Promise<DigestOutcome> {
    const params = parseDigestParams(request.header);
    if (!params) return { kind: 'rejected' };

    const [username, realm, nonce, uri, response, qop, count, cnonce] = [
      'username', 'realm', 'nonce', 'uri', 'response', 'qop', 'nc', 'cnonce',
    ].map((name) => params.get(name));
    const algorithm = algorithmOf(params.get('algorithm'));

    if (!username || !nonce || !uri || !response || !cnonce || !count || !algorithm) return { kind: 'rejected' };
    if (realm !== this.realm || qop !== 'auth' || !NONCE_COUNT.test(count)) return { kind: 'rejected' };
    if (uri !== request.target) return { kind: 'wrong-uri' };

    const issuedAt = this.nonceIssuedAt(nonce);
    if (issuedAt === null) return { kind: 'rejected' };

    const account = await this.findAccount(username);
    let ha1: string | null = null;
    if (account) ha1 = algorithm === 'MD5' ? account.digestHa1.md5 : account.digestHa1.sha256;
    if (!account || !ha1 || account.state !== 'active') return { kind: 'wrong-credentials' };

    const ha2 = hash(algorithm, `${request.method}:${uri}`);
    const expected = hash(algorithm, `${ha1}:${nonce}:${count}:${cnonce}:${qop}:${ha2}`);
    if (!constantTimeEqual(expected, response.toLowerCase())) return { kind: 'wrong-credentials' };

    const expiresAt = issuedAt + this.nonceTtlSeconds * 1000;
    if (expiresAt <= Date.now()) return { kind: 'stale' };

    if (!(await this.store.advanceNonceCount(nonce, parseInt(count, 16), expiresAt))) return { kind: 'rejected' };
    return { kind: 'authenticated', account };
  }

  /** Deletes the replay records of expired nonces; called from time to time, not per request. */
  async sweep(): Promise<void> {
    await this.store.deleteExpiredNonces(Date.now());
  }

  // A nonce is "time.random.signature": the server keeps no record of the nonces it hands out, and any
  // node sharing the key can check one.
  private newNonce(now: number): string {
    const body = `${now.toString(36)}.${randomBytes(12).toString('base64url')}`;
    return `${body}.${this.sign(body)}`;
  }

  private nonceIssuedAt(nonce: string): number | null {
    const parts = nonce.split('.');
    if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2]) return null;

    const body = `${parts[0]}.${parts[1]}`;
    if (!constantTimeEqual(this.sign(body), parts[2])) return null;

    const issuedAt = parseInt(parts[0], 36);
    return Number.isSafeInteger(issuedAt) ? issuedAt : null;
  }

  private sign(body: string): string {
    if (!this.key) throw new Error('DigestAuth.init() must run before nonces are made or checked');
    return createHmac('sha256', this.key).update(body).digest('base64url').slice(0, 32);
  }
}

function algorithmOf(value: string | undefined): DigestAlgorithm | null {
  if (value === undefined || value.toUpperCase() === 'MD5') return 'MD5';
  return value.toUpperCase() === 'SHA-256' ? 'SHA-256' : null;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
}
