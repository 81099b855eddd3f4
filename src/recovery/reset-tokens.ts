import type { TokenStore } from '../confirmation/token-store.js';
import { issueToken } from '../confirmation/issue-token.js';

/** Path of the page that a password reset link opens. */
export const RESET_PAGE_PATH = '/accounts/reset/';

/** Creates a password reset token for an account and returns it; only its digest is stored. */
export async function issueResetToken(tokens: TokenStore, accountUuid: string, now: number, ttlSeconds: number): Promise<string> {
  return issueToken(tokens, { accountUuid, purpose: 'reset', now, ttlSeconds });
}

export function resetLink(publicUrl: string, token: string): string {
  return `${publicUrl}${RESET_PAGE_PATH}?token=${encodeURIComponent(token)}`;
}
