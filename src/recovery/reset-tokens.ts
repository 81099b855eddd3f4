import type { TokenStore } from '../confirmation/token-store.js';
import { digestOf, newSecret } from '../crypto-tokens.js';

/** Path of the page that a password reset link opens. */
export const RESET_PAGE_PATH = '/accounts/reset/';

/** Creates a password reset token for an account and returns it; only its digest is stored. */
export async function issueResetToken(tokens: TokenStore, accountUuid: string, now: number, ttlSeconds: number): Promise<string> {
  const token = newSecret();
  await tokens.insert({
    digest: digestOf(token),
    accountUuid,
    purpose: 'reset',
    createdAt: now,
    expiresAt: now + ttlSeconds * 1000,
  });
  return token;
}

export function resetLink(publicUrl: string, token: string): string {
  return `${publicUrl}${RESET_PAGE_PATH}?token=${encodeURIComponent(token)}`;
}
