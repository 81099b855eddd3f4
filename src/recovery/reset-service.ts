import type { FastifyBaseLogger } from 'fastify';

import type { Account } from '../accounts/account-store.js';
import type { EmailAddress } from '../accounts/email-address.js';
import type { Config } from '../config.js';
import type { TokenRecord } from '../confirmation/token-store.js';
import { digestOf, looksLikeSecret } from '../crypto-tokens.js';
import { passwordPolicyViolation } from '../passwords/password-policy.js';
import type { ClientInfo, IssuedSession, SessionService } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import { BackgroundTasks } from './background-tasks.js';
import type { PasswordUpdater } from './password-update.js';
import { resetLinkMessage } from './recovery-messages.js';
import { issueResetToken, resetLink } from './reset-tokens.js';

type ResetSettings = Pick<Config, 'publicUrl' | 'resetTokenTtlSeconds' | 'mailThrottleSeconds'>;

export type ResetOutcome =
  | { ok: true; accountUuid: string; session: IssuedSession }
  | { ok: false; field: 'token' | 'password'; reason: string };

export type ResetCheck = { ok: true; token: TokenRecord; account: Account } | { ok: false; field: 'token'; reason: string };

const UNKNOWN_TOKEN = 'token is not a valid password reset token; open the link from the most recent reset email';
// Setting a password marks every outstanding token as used, so a token replaced that way reads as used too.
const USED_TOKEN = 'token has already been used, or the password was changed after it was issued; request a new reset link';
const EXPIRED_TOKEN = 'token has expired; request a new reset link';
const INACTIVE_ACCOUNT = 'token belongs to an account that is disabled or deleted';

// An upper bound on reset emails being queued at once, not a tuned number.
const MAX_QUEUED_RESET_EMAILS = 64;

/** The password reset flow: an emailed single-use link that sets a new password without the old one. */
export class PasswordResetService {
  private readonly messageHost: string;
  private readonly mailings = new BackgroundTasks(MAX_QUEUED_RESET_EMAILS);

  constructor(
    private readonly store: Store,
    private readonly updater: PasswordUpdater,
    private readonly sessions: SessionService,
    private readonly settings: ResetSettings,
    private readonly onMailQueued: () => void,
    private readonly log: FastifyBaseLogger,
  ) {
    this.messageHost = new URL(settings.publicUrl).hostname || 'localhost';
  }

  /**
   * Mails a reset link when `email` belongs to an active account, subject to the per-address mail throttle,
   * and does nothing for any other address. The caller waits only for the lookup that every address costs,
   * because the link is queued after the response. So the response time does not depend on whether a link
   * is sent, unless MAX_QUEUED_RESET_EMAILS links are waiting already.
   */
  async request(email: EmailAddress, now: number): Promise<void> {
    const account = await this.store.accounts.findByEmailKey(email.key);
    if (account?.state !== 'active') return;

    const uuid = account.uuid;
    await this.mailings.start(
      () => this.mailResetLink(uuid, now),
      (error) => this.log.error({ err: error, account: uuid }, 'password reset email could not be queued'),
    );
  }

  /** Waits for the reset emails still being queued, so that a graceful stop loses none. */
  settle(): Promise<void> {
    return this.mailings.settle();
  }

  /** Checks a token without using it up, as the reset page does when it opens. */
  async check(token: string, now: number): Promise<ResetCheck> {
    if (!looksLikeSecret(token)) return { ok: false, field: 'token', reason: UNKNOWN_TOKEN };

    const record = await this.store.tokens.find(digestOf(token), 'reset');
    if (!record) return { ok: false, field: 'token', reason: UNKNOWN_TOKEN };
    if (record.usedAt !== null) return { ok: false, field: 'token', reason: USED_TOKEN };
    if (record.expiresAt <= now) return { ok: false, field: 'token', reason: EXPIRED_TOKEN };

    const account = await this.store.accounts.findByUuid(record.accountUuid);
    if (account?.state !== 'active') return { ok: false, field: 'token', reason: INACTIVE_ACCOUNT };
    if (issuedBeforePasswordChange(record, account)) return { ok: false, field: 'token', reason: USED_TOKEN };
    return { ok: true, token: record, account };
  }

  /**
   * Uses a reset token to set a new password. Every outstanding token and every session of the account end,
   * and a new session starts for `client`.
   */
  async reset(token: string, password: string, client: ClientInfo, now: number): Promise<ResetOutcome> {
    const check = await this.check(token, now);
    if (!check.ok) return check;

    const violation = passwordPolicyViolation(password, check.account.email);
    if (violation) return { ok: false, field: 'password', reason: violation };

    const hashed = await this.updater.hash(password);

    const outcome = await this.store.transaction(async (stores): Promise<ResetOutcome> => {
      // Of several requests racing with one token, only the one whose UPDATE changes the row goes on.
      if (!(await stores.tokens.consume(check.token.digest, now))) {
        return { ok: false, field: 'token', reason: USED_TOKEN };
      }

      // The account is read again inside the transaction, because it may have been disabled or changed its
      // address since the check.
      const account = await stores.accounts.findByUuid(check.account.uuid);
      if (account?.state !== 'active') return { ok: false, field: 'token', reason: INACTIVE_ACCOUNT };
      if (issuedBeforePasswordChange(check.token, account)) return { ok: false, field: 'token', reason: USED_TOKEN };

      await this.updater.apply(stores, account, hashed, 'reset', now);
      const session = await this.sessions.start(account.uuid, client, now, stores.sessions);
      return { ok: true, accountUuid: account.uuid, session };
    });

    if (outcome.ok) this.onMailQueued();
    return outcome;
  }

  private async mailResetLink(accountUuid: string, now: number): Promise<void> {
    const queued = await this.store.transaction(async (stores) => {
      const account = await stores.accounts.findByUuid(accountUuid);
      if (account?.state !== 'active') return false;

      const interval = this.settings.mailThrottleSeconds * 1000;
      if (!(await stores.outbox.takeSendSlot(account.emailKey, now, interval))) return false;

      const ttl = this.settings.resetTokenTtlSeconds;
      const token = await issueResetToken(stores.tokens, account.uuid, now, ttl);
      const link = resetLink(this.settings.publicUrl, token);
      await stores.outbox.enqueue(resetLinkMessage(account.email, link, ttl, this.messageHost), now);
      return true;
    });

    if (queued) this.onMailQueued();
  }
}

/**
 * Returns whether a token predates the account's latest password. invalidateAll already marks such tokens
 * used; this check also covers one whose transaction committed after a concurrent password change.
 */
function issuedBeforePasswordChange(token: TokenRecord, account: Account): boolean {
  return account.passwordChangedAt !== null && token.createdAt < account.passwordChangedAt;
}
