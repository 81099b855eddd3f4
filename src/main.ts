#!/usr/bin/env node
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

import { COMMANDS, findCommand, groupHelp, runCommand } from './cli/cli.js';
import { CliError } from './cli/command.js';
import { runPrimary } from './cluster.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { migrateToLatest, openDatabase } from './storage/database.js';

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length), 'migrate'.length);
  const line = (name: string, summary: string) => `  ${name.padEnd(width)}  ${summary}`;

  return [
    'Usage: sigma-accounts [COMMAND] [--help]',
    '',
    'Commands:',
    line('serve', 'Run the HTTP server (the default). Settings come from the environment; see the README.'),
    line('migrate', 'Bring the database schema up to date, then exit.'),
    ...COMMANDS.map((command) => line(command.name, command.summary)),
    '',
    'Options:',
    '  --help     print help; after a command, that command\'s help',
    '  --version  print the version',
  ].join('\n');
}

async function main(args: string[]): Promise<number> {
  const [first = 'serve', ...rest] = args;

  if (first === '--help' || first === '-h' || first === 'help') {
    console.log(usage());
    return 0;
  }
  if (first === '--version' || first === '-v') {
    console.log(version());
    return 0;
  }

  const found = findCommand(args);
  if (found) return runCommand(found.command, found.rest, (text) => console.log(text));

  const group = groupHelp(first);
  if (group) {
    const asked = rest[0] === undefined || rest[0] === '--help' || rest[0] === '-h';
    console[asked ? 'log' : 'error'](asked ? group : `sigma-accounts: unknown command "${first} ${rest[0]}"\n\n${group}`);
    return asked ? 0 : 2;
  }

  if (first !== 'serve' && first !== 'migrate') {
    console.error(`sigma-accounts: unknown command "${first}"; run sigma-accounts --help`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    console.log(first === 'serve' ? 'Usage: sigma-accounts serve\n\nRun the HTTP server. Settings come from the environment; see the README.' : 'Usage: sigma-accounts migrate\n\nBring the database schema up to date, then exit.');
    return 0;
  }
  if (rest.length > 0) {
    console.error(`sigma-accounts: unexpected argument "${rest[0]}"; run sigma-accounts --help`);
    return 2;
  }

  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`sigma-accounts: invalid setting: ${error.message}`);
      return 2;
    }
    throw error;
  }

  const logger = createLogger(config.logLevel, { format: config.logFormat });
  if (first === 'serve') {
    if (config.workers > 1 && cluster.isPrimary) return runPrimary(config, logger);
    const code = await serve(config, logger);
    // A worker's channel to the primary would keep it alive after its server stopped.
    if (cluster.isWorker) process.disconnect();
    return code;
  }

  const { db, description } = openDatabase(config.databaseUrl, config);
  try {
    const applied = await migrateToLatest(db);
    logger.info({ store: description, applied }, 'migrations applied');
  } finally {
    await db.destroy();
  }
  return 0;
}

async function serve(config: Readonly<Config>, logger: ReturnType<typeof createLogger>): Promise<number> {
  const server = await startServer(config, logger);

  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      // A second signal during a slow stop ends the process at once.
      process.once(signal, () => process.exit(1));
      server.stop().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      console.error(`sigma-accounts: ${error.message}`);
      process.exitCode = error.exitCode;
      return;
    }
    // parseArgs reports unknown options and missing values with codes of its own.
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      const option = /'(-[^']*)'/.exec(message)?.[1];
      const problem = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option ? `unknown option ${option}` : message.split('. ')[0];
      console.error(`sigma-accounts: ${problem}; add --help after the command for its options`);
      process.exitCode = 2;
      return;
    }
    console.error(`sigma-accounts: ${message}`);
    process.exitCode = 1;
  },
);
