import type { FastifyBaseLogger } from 'fastify';

import type { AuditReason } from '../audit/audit-events.js';
import { digestOf, looksLikeSecret } from '../crypto-tokens.js';
import type { DigestHasher } from '../accounts/account-service.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { NewPasswordCheck } from '../passwords/new-password-check.js';
import { redeemAccountPromo } from '../promo/promo-redemption.js';
import type { ClientInfo, IssuedSession, SessionService } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';

export type ConfirmOutcome =
  | { ok: true; accountUuid: string; session: IssuedSession }
  | { ok: false; field: 'token' | 'password'; reason: string };

const UNKNOWN_TOKEN = 'token is not a valid confirmation token; open the link from the most recent email';
const USED_TOKEN = 'token has already been used; log in with the password you set, or sign up again for a new link';
const EXPIRED_TOKEN = 'token has expired; sign up again with the same address to get a new link';
const TOKEN_FAILURES = new Map<string, AuditReason>([
  [USED_TOKEN, 'used_token'],
  [EXPIRED_TOKEN, 'expired_token'],
]);

/** The `confirm` step: a confirmation token and a first password turn a pending account active. */
export class ConfirmationService {
  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly newPasswords: NewPasswordCheck,
    private readonly digest: DigestHasher | null = null,
  ) {}

  /** Checks a token without using it up, as the confirmation page does when it opens. */
  async check(token: string, now: number): Promise<ConfirmOutcome | { ok: true }> {
    const problem = await this.tokenProblem(token, now);
    return problem ? { ok: false, field: 'token', reason: problem } : { ok: true };
  }

  /** Sets the first password of the token's account and starts a session. `log` is the request's logger. */
  async confirm(token: string, password: string, client: ClientInfo, now: number, log: Pick<FastifyBaseLogger, 'warn'>): Promise<ConfirmOutcome> {
    const problem = await this.tokenProblem(token, now);
    if (problem) return this.failed({ ok: false, field: 'token', reason: problem }, token, client);

    const record = await this.store.tokens.find(digestOf(token), 'confirm');
    const account = record ? await this.store.accounts.findByUuid(record.accountUuid) : null;
    if (!record || !account) return this.failed({ ok: false, field: 'token', reason: UNKNOWN_TOKEN }, token, client);

    const violation = await this.newPasswords.violation(password, account.email, log);
    if (violation) return this.failed({ ok: false, field: 'password', reason: violation }, token, client);

    // Hashing happens before the transaction so that no lock is held for the length of a hash.
    const passwordHash = await this.hasher.hash(password);
    // Without Digest enabled any old Digest hashes are cleared, since they belong to a replaced password.
    const digestHashes = this.digest?.hashesFor(account.email, password) ?? { md5: null, sha256: null };

    return this.store.transaction(async (stores) => {
      // Of several requests racing with one token, only the one whose UPDATE changes the row goes on.
      if (!(await stores.tokens.consume(record.digest, now))) {
        await stores.audit.record({ type: 'confirm', actor: null, accountUuid: account.uuid, client, failure: 'used_token' });
        return { ok: false, field: 'token', reason: USED_TOKEN } as const;
      }

      await stores.accounts.setPassword(account.uuid, passwordHash, now);
      await stores.accounts.setDigestHashes(account.uuid, digestHashes.md5, digestHashes.sha256);
      await stores.tokens.invalidateAll(account.uuid, now);
      // NOTE: a promo code that ran out, expired or was disabled since sign-up is skipped: the account is
      // confirmed all the same, without the code's state and without promo_redeemed_at.
      await redeemAccountPromo(stores, account.uuid, now);
      await stores.sessions.deleteAllOf(account.uuid);
      const session = await this.sessions.start(account.uuid, client, now, stores.sessions);
      await stores.audit.record({ type: 'confirm', actor: account.uuid, accountUuid: account.uuid, client });
      return { ok: true, accountUuid: account.uuid, session } as const;
    });
  }

  /** Records a failed confirmation, about the token's account when the token names one, and returns it. */
  private async failed(outcome: ConfirmOutcome & { ok: false }, token: string, client: ClientInfo): Promise<ConfirmOutcome> {
    const record = looksLikeSecret(token) ? await this.store.tokens.find(digestOf(token), 'confirm') : null;
    const failure = outcome.field === 'password' ? 'password_policy' : (TOKEN_FAILURES.get(outcome.reason) ?? 'unknown_token');

    await this.store.audit.record({ type: 'confirm', actor: null, accountUuid: record?.accountUuid ?? null, client, failure });
    return outcome;
  }

  private async tokenProblem(token: string, now: number): Promise<string | null> {
    if (!looksLikeSecret(token)) return UNKNOWN_TOKEN;

    const record = await this.store.tokens.find(digestOf(token), 'confirm');
    if (!record) return UNKNOWN_TOKEN;
    if (record.usedAt !== null) return USED_TOKEN;
    if (record.expiresAt <= now) return EXPIRED_TOKEN;
    return null;
  }
}
