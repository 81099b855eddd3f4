import type { PasswordHasher } from './password-hasher.js';
import { MAX_PASSWORD_BYTES, normalizePassword } from './password-policy.js';

/** Message of the 400 on `password` when an action that requires the current password receives another. */
export const WRONG_CURRENT_PASSWORD = 'password is not the current password of this account';

/**
 * Checks the current password of a logged-in account again, as actions that change the login or delete
 * the account require. Does exactly one verification, except for a password longer than any that can be
 * set, which is rejected without hashing.
 */
export async function verifyCurrentPassword(hasher: PasswordHasher, passwordHash: string | null, password: string): Promise<boolean> {
  // Measured after NFC, as the policy measures it when the password is set.
  if (Buffer.byteLength(normalizePassword(password), 'utf8') > MAX_PASSWORD_BYTES) return false;

  return hasher.verify(passwordHash, password);
}
