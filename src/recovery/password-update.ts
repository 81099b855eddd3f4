import type { FastifyBaseLogger } from 'fastify';

import type { DigestHasher } from '../accounts/account-service.js';
import type { Account } from '../accounts/account-store.js';
import type { MailComposer } from '../mail/mail-composer.js';
import type { NewPasswordCheck } from '../passwords/new-password-check.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { Stores } from '../storage/store.js';
import { type PasswordChangeKind, passwordChangedMessage } from './recovery-messages.js';

/** A new password and its argon2id hash, computed before the transaction that stores it. */
export interface HashedPassword {
  password: string;
  passwordHash: string;
}

/**
 * The step shared by reset_password and change_password, which stores a new password and revokes everything
 * that the old one let in.
 */
export class PasswordUpdater {
  constructor(
    private readonly hasher: PasswordHasher,
    private readonly digest: DigestHasher | null,
    private readonly mail: MailComposer,
    private readonly newPasswords: NewPasswordCheck,
  ) {}

  /** Returns why `password` may not become the password of the account of `email`, or null. `log` is the request's logger. */
  violation(password: string, email: string, log: Pick<FastifyBaseLogger, 'warn'>): Promise<string | null> {
    return this.newPasswords.violation(password, email, log);
  }

  /** Hashes a password that passed the policy. Call it outside a transaction, so that no lock is held while it hashes. */
  async hash(password: string): Promise<HashedPassword> {
    return { password, passwordHash: await this.hasher.hash(password) };
  }

  /**
   * Stores the new password in the open transaction of `stores`, marks every outstanding token of the
   * account as used, deletes every session of the account and queues the password-changed notice. A session
   * that the caller starts afterwards in the same transaction survives.
   */
  async apply(stores: Stores, account: Account, hashed: HashedPassword, kind: PasswordChangeKind, now: number): Promise<void> {
    // Without Digest enabled any old Digest hashes are cleared, since they belong to the replaced password.
    // They are computed here, from the account read in this transaction, so that they name its current address.
    const digestHashes = this.digest?.hashesFor(account.email, hashed.password) ?? { md5: null, sha256: null };

    await stores.accounts.setPassword(account.uuid, hashed.passwordHash, now);
    await stores.accounts.setDigestHashes(account.uuid, digestHashes.md5, digestHashes.sha256);
    await stores.tokens.invalidateAll(account.uuid, now);
    await stores.sessions.deleteAllOf(account.uuid);

    // The notice skips the per-address mail throttle, because it goes only to the owner after proof of a reset
    // link or of the old password, and a throttled notice could hide a takeover.
    await stores.outbox.enqueue(passwordChangedMessage(this.mail, account.email, kind, now), now);
  }
}
