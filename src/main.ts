#!/usr/bin/env node
import { readFileSync } from 'node:fs';

import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { migrateToLatest, openDatabase } from './storage/database.js';

const USAGE = `Usage: sigma-accounts [command]

Commands:
  serve       Run the HTTP server (the default). Settings come from the environment; see the README.
  migrate     Bring the database schema up to date, then exit.

Options:
  --help      Print this help.
  --version   Print the version.`;

async function main(args: string[]): Promise<number> {
  const [command = 'serve', ...rest] = args;

  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(version());
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

  const logger = createLogger(config.logLevel);

  switch (command) {
    case 'serve':
      return serve(config, logger);
    case 'migrate': {
      const { db, description } = openDatabase(config.databaseUrl, config);
      try {
        const applied = await migrateToLatest(db);
        logger.info({ store: description, applied }, 'migrations applied');
      } finally {
        await db.destroy();
      }
      return 0;
    }
    default:
      console.error(`sigma-accounts: unknown command "${command}"; run sigma-accounts --help`);
      return 2;
  }
}

async function serve(config: ReturnType<typeof loadConfig>, logger: ReturnType<typeof createLogger>): Promise<number> {
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
    const message = error instanceof Error ? error.message : String(error);
    console.error(`sigma-accounts: ${message}`);
    process.exitCode = 1;
  },
);
