import type { FastifyBaseLogger } from 'fastify';

import type { Account } from '../accounts/account-store.js';
import type { AuditReason } from '../audit/audit-events.js';
import type { EmailAddress } from '../accounts/email-address.js';
import type { Config } from '../config.js';
import type { TokenRecord } from '../confirmation/token-store.js';
import type { MailComposer } from '../mail/mail-composer.js';
import { digestOf, looksLikeSecret } from '../crypto-tokens.js';
import type { ClientInfo, IssuedSession, SessionService } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import { BackgroundTasks } from './background-tasks.js';
import type { PasswordUpdater } from './password-update.js';
import { resetLinkMessage } from './recovery-messages.js';
import { issueResetToken, resetLink } from './reset-tokens.js';

type ResetSettings = Pick<Config, 'resetTokenTtlSeconds' | 'mailThrottleSeconds'>;

export type ResetOutcome =
  | { ok: true; accountUuid: string; session: IssuedSession }
  | { ok: false; field: 'token' | 'password'; reason: string };

export type ResetCheck = { ok: true; token: TokenRecord; account: Account } | { ok: false; field: 'token'; reason: string };

const UNKNOWN_TOKEN = 'token is not a valid password reset token; open the link from the most recent reset email';
// Setting a password marks every outstanding token as used, so a token replaced that way reads as used too.
const USED_TOKEN = 'token has already been used, or the password was changed after it was issued; request a new reset link';
const EXPIRED_TOKEN = 'token has expired; request a new reset link';
const INACTIVE_ACCOUNT = 'token belongs to an account that is disabled or deleted';
const TOKEN_FAILURES = new Map<string, AuditReason>([
  [USED_TOKEN, 'used_token'],
  [EXPIRED_TOKEN, 'expired_token'],
  [INACTIVE_ACCOUNT, 'account_not_active'],
]);

// An upper bound on reset emails being queued at once, not a tuned number.
const MAX_QUEUED_RESET_EMAILS = 64;

/** The password reset flow: an emailed single-use link that sets a new password without the old one. */
export class PasswordResetService {
  private readonly mailings = new BackgroundTasks(MAX_QUEUED_RESET_EMAILS);

  constructor(
    private readonly store: Store,
    private readonly updater: PasswordUpdater,
    private readonly sessions: SessionService,
    private readonly settings: ResetSettings,
    private readonly mail: MailComposer,
    private readonly onMailQueued: () => void,
  ) {}

  /**
   * Mails a reset link when `email` belongs to an active account, subject to the per-address mail throttle,
   * and for any other address only records the request in the audit trail. The caller waits only for the
   * lookup that every address costs, because the link and the record are written after the response. So the
   * response time does not depend on whether a link is sent, unless MAX_QUEUED_RESET_EMAILS tasks are
   * waiting already. Failures after the response are logged to `log`, the request's logger.
   */
  async request(email: EmailAddress, client: ClientInfo, now: number, log: Pick<FastifyBaseLogger, 'error'>): Promise<void> {
    const account = await this.store.accounts.findByEmailKey(email.key);
    if (account?.state !== 'active') {
      // Recorded after the response like a link, so that the response time still does not tell the cases apart.
      const accountUuid = account?.uuid ?? null;
      const failure = account ? 'account_not_active' : 'unknown_account';
      await this.mailings.start(
        () => this.store.audit.record({ type: 'request_password_reset', actor: null, accountUuid, client, failure }),
        (error) => log.error({ err: error, account: accountUuid }, 'password reset request could not be recorded'),
      );
      return;
    }

    const uuid = account.uuid;
    await this.mailings.start(
      () => this.mailResetLink(uuid, client, now),
      (error) => log.error({ err: error, account: uuid }, 'password reset email could not be queued'),
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
   * and a new session starts for `client`. `log` is the request's logger.
   */
  async reset(token: string, password: string, client: ClientInfo, now: number, log: Pick<FastifyBaseLogger, 'warn'>): Promise<ResetOutcome> {
    const check = await this.check(token, now);
    if (!check.ok) return this.failed(check, token, client);

    const violation = await this.updater.violation(password, check.account.email, log);
    if (violation) return this.failed({ ok: false, field: 'password', reason: violation }, token, client);

    const hashed = await this.updater.hash(password);

    const outcome = await this.store.transaction(async (stores): Promise<ResetOutcome> => {
      const accountUuid = check.account.uuid;
      const fail = async (failure: AuditReason, reason: string): Promise<ResetOutcome> => {
        await stores.audit.record({ type: 'reset_password', actor: null, accountUuid, client, failure });
        return { ok: false, field: 'token', reason };
      };

      // Of several requests racing with one token, only the one whose UPDATE changes the row goes on.
      if (!(await stores.tokens.consume(check.token.digest, now))) return fail('used_token', USED_TOKEN);

      // The account is read again inside the transaction, because it may have been disabled or changed its
      // address since the check.
      const account = await stores.accounts.findByUuid(accountUuid);
      if (account?.state !== 'active') return fail('account_not_active', INACTIVE_ACCOUNT);
      if (issuedBeforePasswordChange(check.token, account)) return fail('used_token', USED_TOKEN);

      await this.updater.apply(stores, account, hashed, 'reset', now);
      // The mailbox is one factor: a two-factor account still has to give a code before the session is full.
      const session = await this.sessions.start(account.uuid, client, now, stores.sessions, { secondFactorPending: account.twoFactorEnabled });
      await stores.audit.record({ type: 'reset_password', actor: account.uuid, accountUuid: account.uuid, client });
      return { ok: true, accountUuid: account.uuid, session };
    });

    if (outcome.ok) this.onMailQueued();
    return outcome;
  }

  private async mailResetLink(accountUuid: string, client: ClientInfo, now: number): Promise<void> {
    const queued = await this.store.transaction(async (stores) => {
      const event = { type: 'request_password_reset', actor: null, accountUuid, client } as const;

      const account = await stores.accounts.findByUuid(accountUuid);
      if (account?.state !== 'active') {
        await stores.audit.record({ ...event, failure: 'account_not_active' });
        return false;
      }

      const interval = this.settings.mailThrottleSeconds * 1000;
      if (!(await stores.outbox.takeSendSlot(account.emailKey, now, interval))) {
        await stores.audit.record({ ...event, failure: 'mail_throttled' });
        return false;
      }

      const ttl = this.settings.resetTokenTtlSeconds;
      const token = await issueResetToken(stores.tokens, account.uuid, now, ttl);
      const link = resetLink(this.mail.linkBase, token);
      await stores.outbox.enqueue(resetLinkMessage(this.mail, account.email, link, ttl), now);
      await stores.audit.record(event);
      return true;
    });

    if (queued) this.onMailQueued();
  }

  /** Records a failed reset, about the token's account when the token names one, and returns it. */
  private async failed(outcome: ResetOutcome & { ok: false }, token: string, client: ClientInfo): Promise<ResetOutcome> {
    const record = looksLikeSecret(token) ? await this.store.tokens.find(digestOf(token), 'reset') : null;
    const failure = outcome.field === 'password' ? 'password_policy' : (TOKEN_FAILURES.get(outcome.reason) ?? 'unknown_token');

    await this.store.audit.record({ type: 'reset_password', actor: null, accountUuid: record?.accountUuid ?? null, client, failure });
    return outcome;
  }
}

/**
 * Returns whether a token predates the account's latest password. invalidateAll already marks such tokens
 * used; this check also covers one whose transaction committed after a concurrent password change.
 */
function issuedBeforePasswordChange(token: TokenRecord, account: Account): boolean {
  return account.passwordChangedAt !== null && token.createdAt < account.passwordChangedAt;
}
