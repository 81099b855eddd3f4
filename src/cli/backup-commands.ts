import { BackupError, backupSqliteDatabase } from '../storage/sqlite-backup.js';
import { type Command, CliError } from './command.js';
import { formatRecord } from './output.js';

export const backupCommands: Command[] = [
  {
    name: 'backup',
    summary: 'Copy the SQLite database to a new file while servers keep running, and print where it went.',
    usage: '--to FILE [--json]',
    details: [
      '--to FILE  the new file to write; an existing file is never replaced',
      'The copy is one consistent snapshot, made with SQLite\'s online backup API while servers go on',
      'reading and writing. It is checked with PRAGMA integrity_check and appears under FILE only when',
      'complete, readable by its owner only. On PostgreSQL, back up with pg_dump instead.',
    ],
    options: { to: { type: 'string' } },
    positionals: 0,
    run: async (context) => {
      const target = context.options.to;
      if (typeof target !== 'string' || target.trim() === '') {
        throw new CliError('missing --to FILE: name the new file to write the copy to', 2);
      }

      const { databaseUrl } = context.config;
      if (!databaseUrl.startsWith('sqlite:')) {
        throw new CliError(
          'backup copies SQLite databases only, and DATABASE_URL names PostgreSQL; back that up with pg_dump, such as: pg_dump --format=custom --file=sigma-accounts.dump "$DATABASE_URL"',
          2,
        );
      }

      const source = databaseUrl.slice('sqlite:'.length);
      let backup;
      try {
        backup = await backupSqliteDatabase(source, target);
      } catch (error) {
        if (error instanceof BackupError) throw new CliError(error.message);
        throw error;
      }

      if (context.json) {
        context.print(JSON.stringify({ source, ...backup, integrityCheck: 'ok' }, null, 2));
        return;
      }
      context.print(formatRecord({ 'written to': backup.file, source, bytes: backup.bytes, pages: backup.pages, 'integrity check': 'ok' }));
    },
  },
];
