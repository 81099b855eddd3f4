import { digestOf, newSecret } from '../crypto-tokens.js';
import type { TokenPurpose, TokenStore } from './token-store.js';

export interface TokenRequest {
  accountUuid: string;
  purpose: TokenPurpose;
  now: number;
  ttlSeconds: number;
  /** For `email` tokens: the address the account switches to. */
  newEmail?: string;
}

/** Creates a single-use emailed token and returns it; only its SHA-256 digest is stored. */
export async function issueToken(tokens: TokenStore, request: TokenRequest): Promise<string> {
  const token = newSecret();
  await tokens.insert({
    digest: digestOf(token),
    accountUuid: request.accountUuid,
    purpose: request.purpose,
    createdAt: request.now,
    expiresAt: request.now + request.ttlSeconds * 1000,
    newEmail: request.newEmail ?? null,
  });
  return token;
}
