import { dictionary } from '@zxcvbn-ts/language-common';

export const MIN_PASSWORD_LENGTH = 8;
/** Longer passwords are rejected before hashing, so that a huge one cannot tie up the hasher. */
export const MAX_PASSWORD_BYTES = 1024;

// The 49,233 most common passwords that zxcvbn-ts ships (@zxcvbn-ts/language-common, MIT), lower-cased.
// Only entries of the minimum length or longer can ever match, so the rest are left out of the set.
const COMMON_PASSWORDS = new Set(
  dictionary['passwords-common']
    .map((entry) => entry.toLowerCase())
    .filter((entry) => [...entry].length >= MIN_PASSWORD_LENGTH),
);

/** Normalises a password to NFC so that the same text typed on different systems hashes the same. */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/**
 * Checks a new password against the policy. Returns the reason it is rejected, or null when it is
 * acceptable. `email` is the account's address: neither it nor its local part may be the password.
 */
export function passwordPolicyViolation(password: string, email: string): string | null {
  const normalized = normalizePassword(password);

  if (Buffer.byteLength(normalized, 'utf8') > MAX_PASSWORD_BYTES) {
    return `password must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8`;
  }
  if ([...normalized].length < MIN_PASSWORD_LENGTH) {
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters long`;
  }

  const lowered = normalized.toLowerCase();
  if (COMMON_PASSWORDS.has(lowered)) {
    return 'password is too common; choose one that is not on lists of frequently used passwords';
  }

  const address = email.toLowerCase();
  const localPart = address.slice(0, address.lastIndexOf('@'));
  if (lowered === address || lowered === localPart) {
    return 'password must not be the email address or its part before the @';
  }
  return null;
}
