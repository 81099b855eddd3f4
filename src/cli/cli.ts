import { parseArgs } from 'node:util';

import { ConfigError, loadConfig } from '../config.js';
import { openStore, type Store } from '../storage/store.js';
import { accountCommands } from './account-commands.js';
import { auditCommands } from './audit-commands.js';
import { backupCommands } from './backup-commands.js';
import { type Command, CliError } from './command.js';
import { hashCommands } from './hash-commands.js';
import { mailCommands } from './mail-commands.js';
import { promoCommands } from './promo-commands.js';

/** Every operator command; `serve` and `migrate` are handled by main. */
export const COMMANDS: Command[] = [...accountCommands, ...promoCommands, ...mailCommands, ...hashCommands, ...auditCommands, ...backupCommands];

/** Returns the help of one command. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: sigma-accounts ${command.name} ${command.usage}`, '', command.summary];
  if (command.details) lines.push('', ...command.details.map((line) => `  ${line}`));
  lines.push('', '  --json    print JSON instead of text', '  --help    print this help');
  lines.push('', 'Settings such as DATABASE_URL and DATA_DIR come from the environment, as for `serve`.');
  return lines.join('\n');
}

/** Finds the command named by the first two words of `args`, such as `accounts list`, or by the first one, such as `backup`. */
export function findCommand(args: string[]): { command: Command; rest: string[] } | null {
  const two = `${args[0] ?? ''} ${args[1] ?? ''}`;
  const command = COMMANDS.find((candidate) => candidate.name === two);
  if (command) return { command, rest: args.slice(2) };

  const oneWordCommand = COMMANDS.find((candidate) => candidate.name === args[0]);
  return oneWordCommand ? { command: oneWordCommand, rest: args.slice(1) } : null;
}

/** Lists the commands of a group such as `accounts`, or null when no command starts with it. */
export function groupHelp(group: string): string | null {
  const members = COMMANDS.filter((command) => command.name.startsWith(`${group} `));
  if (members.length === 0) return null;

  const width = Math.max(...members.map((command) => command.name.length));
  return [
    `Usage: sigma-accounts ${group} COMMAND [--help]`,
    '',
    ...members.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
  ].join('\n');
}

/** Runs one operator command; returns the process exit code. */
export async function runCommand(command: Command, args: string[], print: (text: string) => void): Promise<number> {
  const parsed = parseArgs({
    args,
    options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (parsed.values.help) {
    print(commandHelp(command));
    return 0;
  }
  if (parsed.positionals.length !== command.positionals) {
    throw new CliError(`${command.name} takes ${command.usage.split(' [')[0] || 'no arguments'}; run sigma-accounts ${command.name} --help`, 2);
  }

  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`invalid setting: ${error.message}`, 2);
    throw error;
  }

  let store: Store | null = null;
  try {
    await command.run({
      args: parsed.positionals,
      options: parsed.values as Record<string, string | boolean | undefined>,
      json: parsed.values.json === true,
      config,
      store: async () => (store ??= await openStore(config.databaseUrl, config)),
      print,
    });
    return 0;
  } finally {
    const opened = store as Store | null;
    if (opened) await opened.close();
  }
}
