import type { FastifyBaseLogger } from 'fastify';

import { passwordPolicyViolation } from './password-policy.js';
import type { PwnedPasswords } from './pwned-passwords.js';

/** The checks a password must pass before confirm, reset_password or change_password sets it. */
export class NewPasswordCheck {
  /** `pwned` is null unless PWNED_PASSWORDS_URL is set. */
  constructor(private readonly pwned: PwnedPasswords | null) {}

  /**
   * Returns why `password` may not be set for the account of `email`, or null. The local policy comes
   * first, so that only a password that passes it is looked up in Pwned Passwords. Throws a 503 ApiError
   * when the request to that service fails or times out and PWNED_PASSWORDS_FAIL is `closed`. `log` is the
   * request's logger.
   */
  async violation(password: string, email: string, log: Pick<FastifyBaseLogger, 'warn'>): Promise<string | null> {
    const local = passwordPolicyViolation(password, email);
    if (local !== null || this.pwned === null) return local;

    return this.pwned.violation(password, log);
  }
}
