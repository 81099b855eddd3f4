import { parseNetworks } from '../accounts/api-restrictions.js';
import { parseEmailForLookup } from '../accounts/email-address.js';
import type { AccountSummary } from '../admin/admin-store.js';
import { OPERATOR, operatorEvent } from '../audit/audit-events.js';
import { DeletionService } from '../deletion/deletion-service.js';
import { PasswordHasher } from '../passwords/password-hasher.js';
import type { AccountState } from '../storage/schema.js';
import type { Store } from '../storage/store.js';
import { type Command, CliError, type CommandContext } from './command.js';
import { type Column, formatRecord, formatTable, time } from './output.js';

const ACCOUNT_STATES: AccountState[] = ['pending', 'active', 'disabled', 'deleted'];
/** Values of the profile's `state` that operators may set. */
export const PROFILE_STATES = ['NEW_USER', 'TRIAL', 'REGULAR'];

const COLUMNS: Array<Column<AccountSummary>> = [
  { heading: 'UUID', value: (row) => row.uuid },
  { heading: 'EMAIL', value: (row) => row.email },
  { heading: 'STATE', value: (row) => row.state },
  { heading: 'PROFILE STATE', value: (row) => row.profileState },
  { heading: 'SESSIONS', value: (row) => row.sessions },
  { heading: 'CREATED', value: (row) => time(row.createdAt) },
];

/** Finds the account named by a uuid or an email address, or fails with a clear line. */
export async function findAccount(store: Store, name: string | undefined): Promise<AccountSummary> {
  if (!name) throw new CliError('missing account: give its uuid or email address', 2);

  const parsed = parseEmailForLookup(name);
  const account = await store.admin.findAccount(parsed.ok ? parsed.email.key : name);
  if (!account) throw new CliError(`no account with uuid or email "${name}"`);
  return account;
}

function printAccount(context: CommandContext, account: AccountSummary): void {
  if (context.json) {
    context.print(JSON.stringify(account, null, 2));
    return;
  }
  context.print(
    formatRecord({
      uuid: account.uuid,
      email: account.email,
      state: account.state,
      'profile state': account.profileState,
      promo: account.promo,
      sessions: account.sessions,
      'two-factor': account.twoFactorEnabled ? 'on' : 'off',
      'API networks': account.networkRestrictions ?? 'any',
      created: time(account.createdAt),
      confirmed: time(account.confirmedAt),
    }),
  );
}

export const accountCommands: Command[] = [
  {
    name: 'accounts list',
    summary: 'List accounts, oldest first.',
    usage: '[--state STATE] [--limit N] [--offset N] [--json]',
    details: [`--state   only accounts in this state: ${ACCOUNT_STATES.join(', ')}`, '--limit   at most N accounts (default 50)', '--offset  skip the first N'],
    options: { state: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } },
    positionals: 0,
    run: async (context) => {
      const state = context.options.state as string | undefined;
      if (state !== undefined && !ACCOUNT_STATES.includes(state as AccountState)) {
        throw new CliError(`--state must be one of ${ACCOUNT_STATES.join(', ')}`, 2);
      }
      const limit = wholeNumber(context.options.limit, 'limit', 50);
      const offset = wholeNumber(context.options.offset, 'offset', 0);

      const store = await context.store();
      const accounts = await store.admin.listAccounts({ limit, offset, state: state as AccountState | undefined });
      context.print(context.json ? JSON.stringify(accounts, null, 2) : formatTable(accounts, COLUMNS));
    },
  },
  {
    name: 'accounts show',
    summary: 'Show one account.',
    usage: 'ACCOUNT [--json]',
    details: ['ACCOUNT   the uuid or email address of the account'],
    positionals: 1,
    run: async (context) => {
      printAccount(context, await findAccount(await context.store(), context.args[0]));
    },
  },
  {
    name: 'accounts disable',
    summary: 'Disable an account: it cannot log in, and its sessions end at once.',
    usage: 'ACCOUNT [--json]',
    positionals: 1,
    run: async (context) => {
      const store = await context.store();
      const account = await findAccount(store, context.args[0]);

      const disabled = await store.transaction(async (stores) => {
        const event = operatorEvent('disable_account', account.uuid);
        if (!(await stores.admin.setActive(account.uuid, false))) {
          await stores.audit.record({ ...event, failure: 'invalid_state' });
          return false;
        }
        await stores.sessions.deleteAllOf(account.uuid);
        await stores.audit.record(event);
        return true;
      });
      if (!disabled) throw new CliError(`account ${account.uuid} is ${account.state}; only active or disabled accounts can be disabled`);
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'accounts enable',
    summary: 'Enable a disabled account again.',
    usage: 'ACCOUNT [--json]',
    positionals: 1,
    run: async (context) => {
      const store = await context.store();
      const account = await findAccount(store, context.args[0]);

      const enabled = await store.transaction(async (stores) => {
        const changed = await stores.admin.setActive(account.uuid, true);
        const event = operatorEvent('enable_account', account.uuid);
        await stores.audit.record(changed ? event : { ...event, failure: 'invalid_state' });
        return changed;
      });
      if (!enabled) {
        throw new CliError(`account ${account.uuid} is ${account.state}; only active or disabled accounts can be enabled`);
      }
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'accounts delete',
    summary: 'Delete an account: its sessions, tokens and mail go, and an anonymised tombstone keeps its uuid.',
    usage: 'ACCOUNT [--json]',
    positionals: 1,
    run: async (context) => {
      const store = await context.store();
      const account = await findAccount(store, context.args[0]);

      const deletion = new DeletionService(store, new PasswordHasher(context.config.hash));
      if (!(await deletion.erase(account.uuid, Date.now(), { actor: OPERATOR, client: null }))) throw new CliError(`account ${account.uuid} is already deleted`);
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'accounts set-state',
    summary: "Set the profile's state of an account, such as REGULAR after a trial.",
    usage: 'ACCOUNT STATE [--json]',
    details: [`STATE     one of ${PROFILE_STATES.join(', ')}`],
    positionals: 2,
    run: async (context) => {
      const state = context.args[1]?.toUpperCase() ?? '';
      if (!PROFILE_STATES.includes(state)) throw new CliError(`STATE must be one of ${PROFILE_STATES.join(', ')}`, 2);

      const store = await context.store();
      const account = await findAccount(store, context.args[0]);
      await store.transaction(async (stores) => {
        await stores.admin.setProfileState(account.uuid, state);
        await stores.audit.record(operatorEvent('set_account_state', account.uuid, `state ${state}`));
      });
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'accounts restrict-networks',
    summary: "Allow an account's API calls only from the given networks, whatever credentials they carry.",
    usage: 'ACCOUNT NETWORKS [--json]',
    details: [
      'NETWORKS  comma-separated CIDRs such as 192.0.2.0/24,2001:db8::/32 (a bare address is one host),',
      '          or "any" to allow every network again',
    ],
    positionals: 2,
    run: async (context) => {
      const list = context.args[1] ?? '';
      let networks: string | null = null;
      if (list.toLowerCase() !== 'any') {
        const cidrs = parseNetworks(list);
        if (!cidrs) throw new CliError(`NETWORKS "${list}" is not "any" or a comma-separated list of CIDRs such as 192.0.2.0/24,2001:db8::/32`, 2);
        networks = cidrs.map((cidr) => `${cidr.address}/${cidr.prefix}`).join(',');
      }

      const store = await context.store();
      const account = await findAccount(store, context.args[0]);
      await store.transaction(async (stores) => {
        await stores.admin.setNetworkRestrictions(account.uuid, networks);
        await stores.audit.record(operatorEvent('set_network_restrictions', account.uuid, networks ?? 'any network'));
      });
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'accounts allow-http',
    summary: "Set an account's api_https_only back to false, for an owner locked out over plain HTTP.",
    usage: 'ACCOUNT [--json]',
    positionals: 1,
    run: async (context) => {
      const store = await context.store();
      const account = await findAccount(store, context.args[0]);
      await store.transaction(async (stores) => {
        const profile = await stores.profiles.find(account.uuid, { forUpdate: true });
        if (!profile) return;
        await stores.profiles.save(account.uuid, { ...profile.values, api_https_only: false });
        await stores.audit.record(operatorEvent('set_api_https_only', account.uuid, 'api_https_only false'));
      });
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'accounts reset-two-factor',
    summary: 'Turn two-factor authentication off for an account whose owner lost the authenticator and the recovery codes.',
    usage: 'ACCOUNT [--json]',
    details: ['The sessions of the account end. Check who is asking before running this: it removes the second factor.'],
    positionals: 1,
    run: async (context) => {
      const store = await context.store();
      const account = await findAccount(store, context.args[0]);
      await store.transaction(async (stores) => {
        await stores.twoFactor.disable(account.uuid);
        await stores.sessions.deleteAllOf(account.uuid);
        await stores.audit.record(operatorEvent('reset_two_factor', account.uuid));
      });
      printAccount(context, await findAccount(store, account.uuid));
    },
  },
  {
    name: 'sessions end',
    summary: 'End every session of an account.',
    usage: 'ACCOUNT [--json]',
    positionals: 1,
    run: async (context) => {
      const store = await context.store();
      const account = await findAccount(store, context.args[0]);
      await store.transaction(async (stores) => {
        await stores.sessions.deleteAllOf(account.uuid);
        await stores.audit.record(operatorEvent('end_all_sessions', account.uuid));
      });

      const result = { uuid: account.uuid, sessionsEnded: account.sessions };
      context.print(context.json ? JSON.stringify(result, null, 2) : `ended ${account.sessions} session(s) of ${account.uuid}`);
    },
  },
];

/** Parses a whole-number option, or fails with a line naming it. */
export function wholeNumber(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw new CliError(`--${name} must be a whole number`, 2);
  return Number(value);
}
