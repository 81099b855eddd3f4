import type { FastifyBaseLogger } from 'fastify';

import { verifyCurrentPassword } from '../passwords/current-password.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { ClientInfo, IssuedSession, SessionService } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import type { PasswordUpdater } from './password-update.js';

export type ChangeOutcome =
  | { ok: true; session: IssuedSession | null }
  | { ok: false; field: 'old_password' | 'new_password'; reason: string }
  /** The account stopped being active after the caller was authenticated. */
  | { ok: false; field: null; reason: string };

const INACTIVE_ACCOUNT = 'the account is disabled or deleted';
const WRONG_OLD_PASSWORD = 'old_password is wrong; send the current password of the account';
const PASSWORD_CHANGED_MEANWHILE = 'old_password is no longer current: the password was changed while this request ran';

/** The change_password step: an authenticated caller who knows the current password sets a new one. */
export class PasswordChangeService {
  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
    private readonly updater: PasswordUpdater,
    private readonly sessions: SessionService,
    private readonly onMailQueued: () => void,
  ) {}

  /**
   * Replaces the password of an authenticated account after one verification of `oldPassword`, or none when
   * it is over the size limit. Every session of the account ends. With `client` given, a new session starts
   * for it and is returned. `origin` is where the request came from, for the audit trail, and `log` the
   * request's logger.
   */
  async change(
    accountUuid: string,
    oldPassword: string,
    newPassword: string,
    client: ClientInfo | null,
    now: number,
    origin: ClientInfo,
    log: Pick<FastifyBaseLogger, 'warn'>,
  ): Promise<ChangeOutcome> {
    const event = { type: 'change_password', actor: accountUuid, accountUuid, client: origin } as const;

    const account = await this.store.accounts.findByUuid(accountUuid);
    if (account?.state !== 'active') {
      await this.store.audit.record({ ...event, failure: 'account_not_active' });
      return { ok: false, field: null, reason: INACTIVE_ACCOUNT };
    }

    if (!(await verifyCurrentPassword(this.hasher, account.passwordHash, oldPassword))) {
      await this.store.audit.record({ ...event, failure: 'wrong_password' });
      return { ok: false, field: 'old_password', reason: WRONG_OLD_PASSWORD };
    }

    const violation = await this.updater.violation(newPassword, account.email, log);
    if (violation) {
      await this.store.audit.record({ ...event, failure: 'password_policy' });
      return { ok: false, field: 'new_password', reason: violation };
    }

    const hashed = await this.updater.hash(newPassword);

    const outcome = await this.store.transaction(async (stores): Promise<ChangeOutcome> => {
      // The old password was checked against the hash read above. Rewriting that same hash, only where it is
      // still stored, locks the row, so of parallel changes checked against one hash only the first succeeds.
      const checkedHash = account.passwordHash ?? '';
      if (!(await stores.accounts.replacePasswordHash(account.uuid, checkedHash, checkedHash))) {
        await stores.audit.record({ ...event, failure: 'wrong_password' });
        return { ok: false, field: 'old_password', reason: PASSWORD_CHANGED_MEANWHILE };
      }

      // The account is read again inside the transaction, because it may have been disabled or changed its
      // address since.
      const current = await stores.accounts.findByUuid(account.uuid);
      if (current?.state !== 'active') {
        await stores.audit.record({ ...event, failure: 'account_not_active' });
        return { ok: false, field: null, reason: INACTIVE_ACCOUNT };
      }

      await this.updater.apply(stores, current, hashed, 'change', now);
      const session = client ? await this.sessions.start(current.uuid, client, now, stores.sessions) : null;
      await stores.audit.record(event);
      return { ok: true, session };
    });

    if (outcome.ok) this.onMailQueued();
    return outcome;
  }
}
