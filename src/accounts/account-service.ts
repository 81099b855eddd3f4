import { randomUUID } from 'node:crypto';

import type { Config } from '../config.js';
import { confirmationLink, issueConfirmationToken } from '../confirmation/confirmation-tokens.js';
import type { MailComposer } from '../mail/mail-composer.js';
import { confirmationMessage, existingAccountMessage } from '../mail/messages.js';
import { MAX_PASSWORD_BYTES, normalizePassword } from '../passwords/password-policy.js';
import { CredentialCache } from '../passwords/credential-cache.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { ClientInfo } from '../sessions/session-service.js';
import type { Store, Stores } from '../storage/store.js';
import type { Account } from './account-store.js';
import type { EmailAddress } from './email-address.js';
import { parseEmailAddress, parseEmailForLookup } from './email-address.js';

type AccountSettings = Pick<Config, 'confirmTokenTtlSeconds' | 'mailThrottleSeconds'>;

/** Makes the HTTP Digest hashes of a password; absent while Digest is disabled. */
export interface DigestHasher {
  hashesFor(email: string, password: string): { md5: string; sha256: string };
}

/** Sign-up and credential checks: the parts of the accounts feature that need no HTTP. */
export class AccountService {
  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
    private readonly settings: AccountSettings,
    private readonly mail: MailComposer,
    private readonly onMailQueued: () => void,
    private readonly digest: DigestHasher | null = null,
    private readonly credentials: CredentialCache = new CredentialCache({ ttlMs: 0, maxEntries: 0 }),
  ) {}

  /**
   * Signs up an address and returns the uuid to show the caller. For an address that already has an
   * account the uuid is a decoy and the owner is mailed instead, so the response never reveals whether the
   * address is registered.
   *
   * NOTE: a registered address writes fewer rows than a new one, and over loopback its answer comes about
   * 0.2 ms sooner at the median (docs/benchmarks.md); the status and body are the same.
   */
  async create(email: EmailAddress, promo: string | null, client: ClientInfo, now: number): Promise<string> {
    const newUuid = randomUUID();

    const queued = await this.store.transaction(async (stores) => {
      const inserted = await stores.accounts.insertPending({
        uuid: newUuid,
        email: email.address,
        emailKey: email.key,
        promo,
        createdAt: now,
      });

      if (inserted) {
        await stores.audit.record({ type: 'create', actor: null, accountUuid: newUuid, client, details: promo ? `promo ${promo}` : '' });
        return this.mailConfirmation(stores, newUuid, email.address, email.key, now);
      }

      const existing = await stores.accounts.findByEmailKey(email.key);
      if (!existing) return false;
      // Only the owner of the address can read this record, in the audit log of the existing account.
      await stores.audit.record({ type: 'create', actor: null, accountUuid: existing.uuid, client, failure: 'address_registered' });
      return this.mailExistingOwner(stores, existing, now);
    });

    if (queued) this.onMailQueued();
    return newUuid;
  }

  /**
   * Returns the active account whose credentials these are, or null. Exactly one password verification is
   * done for every call with a password of acceptable size, so that the time taken does not tell an
   * unknown address from a wrong password or an unconfirmed account.
   */
  async authenticate(username: string, password: string): Promise<Account | null> {
    // Measured after NFC, as the policy measures it when the password is set.
    if (Buffer.byteLength(normalizePassword(password), 'utf8') > MAX_PASSWORD_BYTES) return null;

    const parsed = parseEmailForLookup(username);
    const account = parsed.ok ? await this.store.accounts.findByEmailKey(parsed.email.key) : null;
    const matches = await this.hasher.verify(account?.passwordHash ?? null, password);
    if (!matches || account?.state !== 'active') return null;
    if (parsed.ok && account.passwordHash) {
      this.credentials.remember(this.credentials.keyOf(parsed.email.key, password), account.uuid, account.passwordHash, Date.now());
    }

    // A hash made before HASH_* was raised is replaced now, while the password is at hand. The login waits
    // for one more hash, once per account.
    if (account.passwordHash && this.hasher.needsRehash(account.passwordHash)) {
      await this.store.accounts.replacePasswordHash(account.uuid, account.passwordHash, await this.hasher.hash(password));
    }

    // Accounts whose password was set while Digest was off get their Digest hashes at the next login.
    if (this.digest && (!account.digestHa1.md5 || !account.digestHa1.sha256)) {
      const hashes = this.digest.hashesFor(account.email, password);
      await this.store.accounts.setDigestHashes(account.uuid, hashes.md5, hashes.sha256);
    }
    return account;
  }

  /**
   * Returns the active account when these credentials matched its current password hash within the last
   * BASIC_CACHE_SECONDS, else null. Costs one lookup of a remembered account and no hash, so programs that
   * send the same Basic credentials with every request are not hashed each time. A password change or a
   * disabled account voids the entry on every node, because both are read from the store here.
   */
  async authenticateFromCache(username: string, password: string): Promise<Account | null> {
    if (!this.credentials.enabled) return null;
    const parsed = parseEmailForLookup(username);
    if (!parsed.ok) return null;

    const remembered = this.credentials.find(this.credentials.keyOf(parsed.email.key, password), Date.now());
    if (!remembered) return null;
    const account = await this.store.accounts.findByUuid(remembered.accountUuid);
    const current = account?.state === 'active' && account.emailKey === parsed.email.key && account.passwordHash === remembered.passwordHash;
    return current ? account : null;
  }

  /** Forgets the remembered credentials of an account, as when all its sessions are ended. */
  forgetCredentials(accountUuid: string): void {
    this.credentials.forgetAccount(accountUuid);
  }

  /**
   * Returns why authenticate() rejected a login name, and the account it names, for the audit trail. It
   * costs one lookup whether or not the address is registered, and no password verification.
   */
  async loginFailure(username: string): Promise<{ accountUuid: string | null; reason: 'unknown_account' | 'account_not_active' | 'wrong_password' }> {
    const parsed = parseEmailAddress(username);
    const account = parsed.ok ? await this.store.accounts.findByEmailKey(parsed.email.key) : null;

    if (!account) return { accountUuid: null, reason: 'unknown_account' };
    if (account.state !== 'active') return { accountUuid: account.uuid, reason: 'account_not_active' };
    return { accountUuid: account.uuid, reason: 'wrong_password' };
  }

  private async mailExistingOwner(stores: Stores, account: Account, now: number): Promise<boolean> {
    if (account.state === 'pending') {
      return this.mailConfirmation(stores, account.uuid, account.email, account.emailKey, now);
    }
    if (account.state !== 'active') return false;

    if (!(await this.takeSendSlot(stores, account.emailKey, now))) return false;
    await stores.outbox.enqueue(existingAccountMessage(this.mail, account.email), now);
    return true;
  }

  private async mailConfirmation(stores: Stores, uuid: string, address: string, emailKey: string, now: number): Promise<boolean> {
    if (!(await this.takeSendSlot(stores, emailKey, now))) return false;

    const ttl = this.settings.confirmTokenTtlSeconds;
    const token = await issueConfirmationToken(stores.tokens, uuid, now, ttl);
    const link = confirmationLink(this.mail.linkBase, token);
    await stores.outbox.enqueue(confirmationMessage(this.mail, address, link, ttl), now);
    return true;
  }

  private takeSendSlot(stores: Stores, emailKey: string, now: number): Promise<boolean> {
    return stores.outbox.takeSendSlot(emailKey, now, this.settings.mailThrottleSeconds * 1000);
  }
}
