import { issueToken } from './issue-token.js';
import type { TokenStore } from './token-store.js';

/** Path of the page that a confirmation link opens. */
export const CONFIRM_PAGE_PATH = '/accounts/confirm/';

/** Creates a confirmation token for an account and returns it; only its digest is stored. */
export async function issueConfirmationToken(
  tokens: TokenStore,
  accountUuid: string,
  now: number,
  ttlSeconds: number,
): Promise<string> {
  return issueToken(tokens, { accountUuid, purpose: 'confirm', now, ttlSeconds });
}

export function confirmationLink(publicUrl: string, token: string): string {
  return `${publicUrl}${CONFIRM_PAGE_PATH}?token=${encodeURIComponent(token)}`;
}
