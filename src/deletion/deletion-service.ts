import type { AuditEvent } from '../audit/audit-events.js';
import { verifyCurrentPassword, WRONG_CURRENT_PASSWORD } from '../passwords/current-password.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { ClientInfo } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';

export type DeletionOutcome =
  | { kind: 'deleted' }
  | { kind: 'invalid'; field: 'password'; reason: string }
  /** The account stopped being active after the request was authenticated. */
  | { kind: 'inactive' };

// A retry is needed only when the address changed between reading the account and deleting it, and each
// change needs its own emailed link, so more than a few in a row mean something else is wrong.
const MAX_ATTEMPTS = 3;

/**
 * Deletes accounts for `delete_account`. The account becomes an anonymised tombstone, and what belongs to
 * it (sessions, tokens, queued and sent mail to its address, the address's send throttle) is deleted.
 */
export class DeletionService {
  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
  ) {}

  async deleteAccount(accountUuid: string, password: string, client: ClientInfo, now: number): Promise<DeletionOutcome> {
    const by = { actor: accountUuid, client };

    const account = await this.store.accounts.findByUuid(accountUuid);
    if (!account || account.state !== 'active') {
      await this.store.audit.record({ type: 'delete_account', ...by, accountUuid, failure: 'account_not_active' });
      return { kind: 'inactive' };
    }

    if (!(await verifyCurrentPassword(this.hasher, account.passwordHash, password))) {
      await this.store.audit.record({ type: 'delete_account', ...by, accountUuid, failure: 'wrong_password' });
      return { kind: 'invalid', field: 'password', reason: WRONG_CURRENT_PASSWORD };
    }
    return (await this.erase(accountUuid, now, by)) ? { kind: 'deleted' } : { kind: 'inactive' };
  }

  /**
   * Turns an account into a tombstone without asking for its password, as operators do, and records it as
   * done `by` that actor and client. Returns false when there is no such account or it is already deleted.
   */
  async erase(accountUuid: string, now: number, by: Pick<AuditEvent, 'actor' | 'client'>): Promise<boolean> {
    const account = await this.store.accounts.findByUuid(accountUuid);
    if (!account || account.state === 'deleted') {
      await this.store.audit.record({ type: 'delete_account', ...by, accountUuid, failure: 'account_not_active' });
      return false;
    }

    let emailKey = account.emailKey;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const deleted = await this.store.transaction(async (stores) => {
        // The tombstone is written only while the address is still the one read, so that the outbox rows
        // deleted below are those of the address the account had at that moment.
        if (!(await stores.accounts.markDeleted(accountUuid, emailKey, now))) return false;

        await stores.sessions.deleteAllOf(accountUuid);
        await stores.tokens.deleteAllOf(accountUuid);
        await stores.apiTokens.deleteAllOf(accountUuid);
        await stores.twoFactor.disable(accountUuid);
        await stores.outbox.deleteForRecipient(emailKey);
        await stores.audit.record({ type: 'delete_account', ...by, accountUuid });
        return true;
      });
      if (deleted) return true;

      const current = await this.store.accounts.findByUuid(accountUuid);
      if (!current || current.state === 'deleted') return false;
      emailKey = current.emailKey;
    }

    throw new Error(`account ${accountUuid} changed its address during deletion ${MAX_ATTEMPTS} times in a row`);
  }
}
