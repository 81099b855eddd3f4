import { operatorEvent } from '../audit/audit-events.js';
import type { PromoCode } from '../promo/promo-store.js';
import { type Command, CliError } from './command.js';
import { PROFILE_STATES, wholeNumber } from './account-commands.js';
import { type Column, formatTable, time } from './output.js';

const CODE = /^[A-Za-z0-9_-]{1,64}$/;

const COLUMNS: Array<Column<PromoCode>> = [
  { heading: 'CODE', value: (row) => row.code },
  { heading: 'GRANTS', value: (row) => row.grantsState },
  { heading: 'USES', value: (row) => (row.maxUses === null ? `${row.uses}` : `${row.uses}/${row.maxUses}`) },
  { heading: 'EXPIRES', value: (row) => time(row.expiresAt) },
  { heading: 'DISABLED', value: (row) => time(row.disabledAt) },
  { heading: 'CREATED', value: (row) => time(row.createdAt) },
];

function codeOf(value: string | undefined): string {
  if (!value || !CODE.test(value)) throw new CliError('CODE must be 1 to 64 letters, digits, - or _', 2);
  return value.toUpperCase();
}

export const promoCommands: Command[] = [
  {
    name: 'promo create',
    summary: 'Create a promo code that sign-ups may give as `promo`.',
    usage: 'CODE [--max-uses N] [--expires TIME] [--grants STATE] [--json]',
    details: [
      'CODE         1 to 64 letters, digits, - or _; matched without regard to case',
      '--max-uses   how many confirmed sign-ups may redeem it (default: no limit)',
      '--expires    when it stops being accepted, ISO 8601 such as 2027-01-31T00:00:00Z',
      `--grants     the profile state a redeeming account gets: ${PROFILE_STATES.join(', ')}`,
    ],
    options: { 'max-uses': { type: 'string' }, expires: { type: 'string' }, grants: { type: 'string' } },
    positionals: 1,
    run: async (context) => {
      const code = codeOf(context.args[0]);
      const maxUses = context.options['max-uses'] === undefined ? null : wholeNumber(context.options['max-uses'], 'max-uses', 0);
      const grants = context.options.grants === undefined ? null : String(context.options.grants).toUpperCase();
      if (grants !== null && !PROFILE_STATES.includes(grants)) throw new CliError(`--grants must be one of ${PROFILE_STATES.join(', ')}`, 2);

      const expiresText = context.options.expires;
      const expiresAt = typeof expiresText === 'string' ? Date.parse(expiresText) : null;
      if (expiresAt !== null && (Number.isNaN(expiresAt) || !/^\d{4}-\d{2}-\d{2}/.test(String(expiresText)))) {
        throw new CliError('--expires must be an ISO 8601 time such as 2027-01-31T00:00:00Z', 2);
      }

      const store = await context.store();
      const created = await store.transaction(async (stores) => {
        const inserted = await stores.promos.insert({ code, grantsState: grants, maxUses, expiresAt, createdAt: Date.now() });
        const event = operatorEvent('create_promo', null, `code ${code}`);
        await stores.audit.record(inserted ? event : { ...event, failure: 'already_exists' });
        return inserted;
      });
      if (!created) throw new CliError(`promo code ${code} already exists`);

      const promo = await store.promos.find(code);
      context.print(context.json ? JSON.stringify(promo, null, 2) : formatTable(promo ? [promo] : [], COLUMNS));
    },
  },
  {
    name: 'promo list',
    summary: 'List promo codes with their uses.',
    usage: '[--json]',
    positionals: 0,
    run: async (context) => {
      const codes = await (await context.store()).promos.list();
      context.print(context.json ? JSON.stringify(codes, null, 2) : formatTable(codes, COLUMNS));
    },
  },
  {
    name: 'promo disable',
    summary: 'Stop accepting a promo code; accounts that redeemed it keep what it granted.',
    usage: 'CODE [--json]',
    positionals: 1,
    run: async (context) => {
      const code = codeOf(context.args[0]);
      const store = await context.store();
      const disabled = await store.transaction(async (stores) => {
        const found = await stores.promos.disable(code, Date.now());
        const event = operatorEvent('disable_promo', null, `code ${code}`);
        await stores.audit.record(found ? event : { ...event, failure: 'not_found' });
        return found;
      });
      if (!disabled) throw new CliError(`no promo code ${code}`);

      const promo = await store.promos.find(code);
      context.print(context.json ? JSON.stringify(promo, null, 2) : formatTable(promo ? [promo] : [], COLUMNS));
    },
  },
];
