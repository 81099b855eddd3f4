import type { MailFilter, MailSummary } from '../admin/admin-store.js';
import { operatorEvent } from '../audit/audit-events.js';
import { type Command, CliError } from './command.js';
import { wholeNumber } from './account-commands.js';
import { type Column, formatTable, time } from './output.js';

const FILTERS: MailFilter[] = ['pending', 'sent', 'failed', 'all'];

const COLUMNS: Array<Column<MailSummary>> = [
  { heading: 'ID', value: (row) => row.id },
  { heading: 'TO', value: (row) => row.recipient },
  { heading: 'SUBJECT', value: (row) => row.subject },
  { heading: 'STATUS', value: statusOf },
  { heading: 'ATTEMPTS', value: (row) => row.attempts },
  { heading: 'CREATED', value: (row) => time(row.createdAt) },
  { heading: 'LAST ERROR', value: (row) => row.lastError?.slice(0, 60) },
];

export const mailCommands: Command[] = [
  {
    name: 'mail list',
    summary: 'List queued and delivered mail, newest first.',
    usage: '[--status STATUS] [--limit N] [--json]',
    details: [`--status  ${FILTERS.join(', ')} (default pending)`, '--limit   at most N messages (default 50)'],
    options: { status: { type: 'string' }, limit: { type: 'string' } },
    positionals: 0,
    run: async (context) => {
      const status = (context.options.status as string | undefined) ?? 'pending';
      if (!FILTERS.includes(status as MailFilter)) throw new CliError(`--status must be one of ${FILTERS.join(', ')}`, 2);

      const rows = await (await context.store()).admin.listMail(status as MailFilter, wholeNumber(context.options.limit, 'limit', 50));
      context.print(context.json ? JSON.stringify(rows, null, 2) : formatTable(rows, COLUMNS));
    },
  },
  {
    name: 'mail retry',
    summary: 'Queue a failed or waiting message for delivery now, with its attempts counted from zero.',
    usage: 'ID [--json]',
    details: ['ID        the message id from `mail list`'],
    positionals: 1,
    run: async (context) => {
      const id = context.args[0] ?? '';
      const store = await context.store();
      const queued = await store.transaction(async (stores) => {
        const found = await stores.admin.retryMail(id, Date.now());
        const event = operatorEvent('retry_mail', null, `message ${id}`);
        await stores.audit.record(found ? event : { ...event, failure: 'not_found' });
        return found;
      });
      if (!queued) throw new CliError(`no unsent message with id "${id}"`);

      const result = { id, queued: true };
      context.print(context.json ? JSON.stringify(result, null, 2) : `message ${id} is queued; a running server delivers it at its next poll`);
    },
  },
];

function statusOf(row: MailSummary): string {
  if (row.sentAt) return 'sent';
  if (row.failedAt) return 'failed';
  return 'pending';
}
