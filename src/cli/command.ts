import type { ParseArgsConfig } from 'node:util';

import type { Config } from '../config.js';
import type { Store } from '../storage/store.js';

/** A mistake in how a command was called or what it was asked to do; printed as one line. */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    /** 2 for a wrong call (unknown option, missing argument), 1 for a request that failed. */
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

export interface CommandContext {
  /** Positional arguments after the command's name. */
  args: string[];
  options: Record<string, string | boolean | undefined>;
  json: boolean;
  config: Readonly<Config>;
  /** Opens the store on first use (running migrations) and closes it when the command ends. */
  store(): Promise<Store>;
  print(text: string): void;
}

/** One command of the operator command line, such as `accounts list`. */
export interface Command {
  /** Words that name it, such as "accounts list". */
  name: string;
  summary: string;
  /** Arguments and options, as shown by --help after the name. */
  usage: string;
  /** Lines that explain the arguments and options. */
  details?: string[];
  options?: ParseArgsConfig['options'];
  /** Number of positional arguments the command takes. */
  positionals: number;
  run(context: CommandContext): Promise<void>;
}
