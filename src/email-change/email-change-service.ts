import type { Account } from '../accounts/account-store.js';
import type { AuditReason } from '../audit/audit-events.js';
import { type EmailAddress, parseEmailAddress } from '../accounts/email-address.js';
import type { Config } from '../config.js';
import { digestOf, looksLikeSecret } from '../crypto-tokens.js';
import type { MailComposer } from '../mail/mail-composer.js';
import type { OutgoingMessage } from '../mail/outbox-store.js';
import { verifyCurrentPassword, WRONG_CURRENT_PASSWORD } from '../passwords/current-password.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { ClientInfo } from '../sessions/session-service.js';
import type { Store, Stores } from '../storage/store.js';
import { addressTakenMessage, emailChangeLinkMessage, emailChangeRequestedMessage } from './email-change-messages.js';
import { emailChangeLink, issueEmailChangeToken } from './email-change-tokens.js';

type EmailChangeSettings = Pick<Config, 'confirmTokenTtlSeconds' | 'mailThrottleSeconds'>;

export type ChangeRequestOutcome =
  | { kind: 'requested' }
  | { kind: 'invalid'; field: 'email' | 'password'; reason: string }
  /** The account stopped being active after the request was authenticated. */
  | { kind: 'inactive' };

export type TokenCheck = { ok: true; newEmail: string } | { ok: false; reason: string };
export type ConfirmEmailOutcome = { ok: true; accountUuid: string } | { ok: false; reason: string };

const SAME_ADDRESS = 'email is already the address of this account (addresses are compared without regard to case)';
const UNKNOWN_TOKEN = 'token is not a valid email change token. Open the link from the most recent email';
const USED_TOKEN = 'token has already been used. Log in to see the current address of the account';
const EXPIRED_TOKEN = 'token has expired. Ask for the change again to get a new link';
const ADDRESS_TAKEN = 'token is for an address that another account now has, so the change cannot be made';
const ACCOUNT_INACTIVE = 'token is for an account that is no longer active';
const TOKEN_FAILURES = new Map<string, AuditReason>([
  [USED_TOKEN, 'used_token'],
  [EXPIRED_TOKEN, 'expired_token'],
  [ADDRESS_TAKEN, 'address_taken'],
  [ACCOUNT_INACTIVE, 'account_not_active'],
]);

/** Error thrown inside the confirm transaction to roll it back, token included, when the address is taken. */
class AddressTaken extends Error {}

/**
 * The email-change flow: `change_email` mails a link to the new address, `confirm_email` uses it. The
 * address switches only when the link is used, so a typo or a stolen session alone cannot move an account.
 */
export class EmailChangeService {
  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
    private readonly settings: EmailChangeSettings,
    private readonly mail: MailComposer,
    private readonly onMailQueued: () => void,
  ) {}

  /**
   * Checks the password and mails the new address either a link or, when it is registered, a notice, and
   * the current address a notice. Both cases return `requested`, so the caller never learns whether the
   * new address is registered. Every mail is subject to the per-address send throttle.
   */
  async requestChange(accountUuid: string, newEmail: string, password: string, client: ClientInfo, now: number): Promise<ChangeRequestOutcome> {
    // The record never names the new address, and it is the same whether or not that address is registered,
    // because the caller reads it in the audit log.
    const event = { type: 'change_email', actor: accountUuid, accountUuid, client } as const;
    const fail = async (failure: AuditReason, outcome: ChangeRequestOutcome): Promise<ChangeRequestOutcome> => {
      await this.store.audit.record({ ...event, failure });
      return outcome;
    };

    const parsed = parseEmailAddress(newEmail);
    if (!parsed.ok) return fail('invalid_email', { kind: 'invalid', field: 'email', reason: parsed.reason });

    const account = await this.store.accounts.findByUuid(accountUuid);
    if (!account || account.state !== 'active') return fail('account_not_active', { kind: 'inactive' });
    if (parsed.email.key === account.emailKey) return fail('same_address', { kind: 'invalid', field: 'email', reason: SAME_ADDRESS });

    if (!(await verifyCurrentPassword(this.hasher, account.passwordHash, password))) {
      return fail('wrong_password', { kind: 'invalid', field: 'password', reason: WRONG_CURRENT_PASSWORD });
    }

    const queued = await this.store.transaction(async (stores) => {
      await stores.audit.record(event);
      const toNewAddress = await this.mailNewAddress(stores, account, parsed.email, now);
      const toOldAddress = await this.mailOldAddress(stores, account, parsed.email, now);
      return toNewAddress || toOldAddress;
    });

    if (queued) this.onMailQueued();
    return { kind: 'requested' };
  }

  /** Checks a token without using it, as the page that the link opens does. */
  async check(token: string, now: number): Promise<TokenCheck> {
    const found = await this.findUsableToken(token, now);
    if (!found.ok) return found;

    const account = await this.store.accounts.findByUuid(found.accountUuid);
    if (!account || account.state !== 'active') return { ok: false, reason: ACCOUNT_INACTIVE };

    const holder = await this.store.accounts.findByEmailKey(found.newEmail.key);
    if (holder && holder.uuid !== account.uuid) return { ok: false, reason: ADDRESS_TAKEN };
    return { ok: true, newEmail: found.newEmail.address };
  }

  /**
   * Uses a token: switches the account to the token's address, clears its Digest hashes (they contain the
   * address) and invalidates its other tokens. All of it happens in one transaction, and only one of
   * several requests racing with one token succeeds.
   */
  async confirm(token: string, client: ClientInfo, now: number): Promise<ConfirmEmailOutcome> {
    const found = await this.findUsableToken(token, now);
    if (!found.ok) return this.failedConfirmation(found, token, client);

    const event = { type: 'confirm_email', actor: null, accountUuid: found.accountUuid, client } as const;
    try {
      return await this.store.transaction(async (stores) => {
        // Of several requests racing with one token, only the one whose UPDATE changes the row goes on.
        if (!(await stores.tokens.consume(found.digest, now))) {
          await stores.audit.record({ ...event, failure: 'used_token' });
          return { ok: false, reason: USED_TOKEN } as const;
        }

        const result = await stores.accounts.changeEmail(found.accountUuid, found.newEmail.address, found.newEmail.key);
        // A taken address rolls the whole transaction back, so the token is not used up by a change that
        // never happened.
        if (result === 'taken') throw new AddressTaken();
        if (result === 'inactive') {
          await stores.audit.record({ ...event, failure: 'account_not_active' });
          return { ok: false, reason: ACCOUNT_INACTIVE } as const;
        }

        // Digest hashes are of "email:realm:password", so they are cleared, and the next login writes them anew.
        await stores.accounts.setDigestHashes(found.accountUuid, null, null);
        // Every outstanding token goes, not only email ones, because a reset link went to the old address.
        await stores.tokens.invalidateAll(found.accountUuid, now);
        // The emailed token proves the owner, so the owner is the actor.
        await stores.audit.record({ ...event, actor: found.accountUuid });
        return { ok: true, accountUuid: found.accountUuid } as const;
      });
    } catch (error) {
      if (!(error instanceof AddressTaken)) throw error;
      await this.store.audit.record({ ...event, failure: 'address_taken' });
      return { ok: false, reason: ADDRESS_TAKEN };
    }
  }

  /** Records a failed confirm_email, about the token's account when the token names one, and returns it. */
  private async failedConfirmation(outcome: { ok: false; reason: string }, token: string, client: ClientInfo): Promise<ConfirmEmailOutcome> {
    const record = looksLikeSecret(token) ? await this.store.tokens.find(digestOf(token), 'email') : null;
    const failure = TOKEN_FAILURES.get(outcome.reason) ?? 'unknown_token';

    await this.store.audit.record({ type: 'confirm_email', actor: null, accountUuid: record?.accountUuid ?? null, client, failure });
    return outcome;
  }

  private async mailNewAddress(stores: Stores, account: Account, newEmail: EmailAddress, now: number): Promise<boolean> {
    const holder = await stores.accounts.findByEmailKey(newEmail.key);
    if (!(await this.takeSendSlot(stores, newEmail.key, now))) return false;

    let mail: OutgoingMessage;
    if (holder) {
      mail = addressTakenMessage(this.mail, newEmail.address);
    } else {
      const ttl = this.settings.confirmTokenTtlSeconds;
      const token = await issueEmailChangeToken(stores.tokens, account.uuid, newEmail, now, ttl);
      mail = emailChangeLinkMessage(this.mail, newEmail.address, emailChangeLink(this.mail.linkBase, token), ttl);
    }

    await stores.outbox.enqueue(mail, now);
    return true;
  }

  private async mailOldAddress(stores: Stores, account: Account, newEmail: EmailAddress, now: number): Promise<boolean> {
    if (!(await this.takeSendSlot(stores, account.emailKey, now))) return false;

    await stores.outbox.enqueue(emailChangeRequestedMessage(this.mail, account.email, newEmail.address), now);
    return true;
  }

  private async findUsableToken(
    token: string,
    now: number,
  ): Promise<{ ok: true; digest: string; accountUuid: string; newEmail: EmailAddress } | { ok: false; reason: string }> {
    if (!looksLikeSecret(token)) return { ok: false, reason: UNKNOWN_TOKEN };

    const record = await this.store.tokens.find(digestOf(token), 'email');
    if (!record) return { ok: false, reason: UNKNOWN_TOKEN };
    if (record.usedAt !== null) return { ok: false, reason: USED_TOKEN };
    if (record.expiresAt <= now) return { ok: false, reason: EXPIRED_TOKEN };

    // The address was parsed when the token was made, so parsing it again only derives its key.
    const parsed = parseEmailAddress(record.newEmail ?? '');
    if (!parsed.ok) return { ok: false, reason: UNKNOWN_TOKEN };
    return { ok: true, digest: record.digest, accountUuid: record.accountUuid, newEmail: parsed.email };
  }

  private takeSendSlot(stores: Stores, emailKey: string, now: number): Promise<boolean> {
    return stores.outbox.takeSendSlot(emailKey, now, this.settings.mailThrottleSeconds * 1000);
  }
}
