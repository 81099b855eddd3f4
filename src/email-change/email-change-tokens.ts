import type { EmailAddress } from '../accounts/email-address.js';
import type { TokenStore } from '../confirmation/token-store.js';
import { issueToken } from '../confirmation/issue-token.js';

/** Path of the page that an email-change link opens. */
export const EMAIL_CHANGE_PAGE_PATH = '/accounts/email/';

/**
 * Creates a token that switches an account to `newEmail` and returns it. Only its digest is stored, with
 * the new address beside it, so the link carries nothing but the secret.
 */
export async function issueEmailChangeToken(
  tokens: TokenStore,
  accountUuid: string,
  newEmail: EmailAddress,
  now: number,
  ttlSeconds: number,
): Promise<string> {
  return issueToken(tokens, { accountUuid, purpose: 'email', now, ttlSeconds, newEmail: newEmail.address });
}

export function emailChangeLink(publicUrl: string, token: string): string {
  return `${publicUrl}${EMAIL_CHANGE_PAGE_PATH}?token=${encodeURIComponent(token)}`;
}
