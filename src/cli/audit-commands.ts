import { verifyAuditChain } from '../audit/chain-verification.js';
import { type Command, CliError } from './command.js';
import { formatRecord } from './output.js';

export const auditCommands: Command[] = [
  {
    name: 'audit verify',
    summary: 'Check the hash chain of the audit trail; exit 1 naming the first broken record.',
    usage: '[--json]',
    details: [
      'Checks that seqs run from 1 without gaps, that each record holds the hash of the one before it,',
      'that each hash matches its record, and that the last record matches the stored chain head.',
    ],
    positionals: 0,
    run: async (context) => {
      const report = await verifyAuditChain((await context.store()).audit);

      if (context.json) {
        context.print(JSON.stringify(report, null, 2));
      } else if (report.intact) {
        context.print(formatRecord({ status: 'intact', records: report.checked, 'head hash': report.head.hash }));
      }
      if (report.broken) {
        throw new CliError(`audit chain broken at record ${report.broken.seq}: ${report.broken.problem} (${report.checked} records before it are intact)`);
      }
    },
  },
];
