import { Secret, TOTP } from 'otpauth';

// RFC 6238 as authenticator apps expect it: HMAC-SHA-1, six digits, 30-second steps.
const PERIOD_SECONDS = 30;
const DIGITS = 6;
// Codes of the step before and after the current one are accepted too, for clocks that drift.
const WINDOW = 1;

/** Returns a new random TOTP secret, 160 bits in base32 as authenticator apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** Returns the `otpauth://` URI of a secret, which a QR code carries to an authenticator app. */
export function totpUri(secret: string, issuer: string, accountName: string): string {
  return totpOf(secret, issuer, accountName).toString();
}

/**
 * Returns the time step that `code` belongs to, among the steps around `now`, or null when it matches none
 * of them. The caller compares the step with the last one used to reject a replayed code.
 */
export function totpStepOf(secret: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const totp = totpOf(secret, '', '');
  const delta = totp.validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? null : totp.counter({ timestamp: now }) + delta;
}

/** Returns the code of a secret at a time; for tests and tools, since the server only checks codes. */
export function totpCode(secret: string, at: number): string {
  return totpOf(secret, '', '').generate({ timestamp: at });
}

function totpOf(secret: string, issuer: string, label: string): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD_SECONDS, secret: Secret.fromBase32(secret) });
}
