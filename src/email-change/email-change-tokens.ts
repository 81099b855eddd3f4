import type { EmailAddress } from '../accounts/email-address.js';
import type { TokenStore } from '../confirmation/token-store.js';
import { digestOf, newSecret } from '../crypto-tokens.js';

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
  const token = newSecret();
  await tokens.insert({
    digest: digestOf(token),
    accountUuid,
    purpose: 'email',
    createdAt: now,
    expiresAt: now + ttlSeconds * 1000,
    newEmail: newEmail.address,
  });
  return token;
}

export function emailChangeLink(publicUrl: string, token: string): string {
  return `${publicUrl}${EMAIL_CHANGE_PAGE_PATH}?token=${encodeURIComponent(token)}`;
}
