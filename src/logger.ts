import { createRequire } from 'node:module';

import pino, { type Logger } from 'pino';

import type { LogFormatSetting } from './config.js';

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** `auto` (the default) picks pretty lines when they go to a terminal, else JSON. */
  format?: LogFormatSetting;
  /** Destination of the lines instead of standard output, as in tests. `auto` then picks JSON. */
  destination?: pino.DestinationStream;
}

/** Resolves LOG_FORMAT: `auto` becomes `pretty` when the lines go to a terminal and `json` otherwise. */
export function chooseLogFormat(setting: LogFormatSetting, toTerminal: boolean): LogFormat {
  if (setting === 'auto') return toTerminal ? 'pretty' : 'json';
  return setting;
}

/**
 * The process logger. Request lines never carry headers or bodies; the redaction below is a second guard
 * for credentials that might reach a log object some other way. Pretty lines are made from the redacted
 * JSON lines, so they can contain no more than those.
 */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const toTerminal = options.destination === undefined && process.stdout.isTTY === true;
  const format = chooseLogFormat(options.format ?? 'auto', toTerminal);
  // Pino's own standard output stream (SonicBoom) writes every line at once and flushes at exit.
  const destination = options.destination ?? pino.destination(1);

  return pino(
    {
      level,
      // The pid identifies each process of WORKERS=N.
      base: { service: 'sigma-accounts', pid: process.pid },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'res.headers["set-cookie"]',
          'headers.authorization',
          'headers.cookie',
          '*.password',
          '*.token',
          '*.sessionId',
          '*.csrfToken',
        ],
        censor: '[redacted]',
      },
    },
    format === 'pretty' ? prettyStream(destination, toTerminal) : destination,
  );
}

/**
 * Returns a stream that turns each JSON line into a readable line and writes it to `destination` in the
 * same call. pino-pretty's own transport would run in a worker thread or behind a stream pipeline, either of
 * which can lose the last lines when the process exits.
 */
function prettyStream(destination: pino.DestinationStream, toTerminal: boolean): pino.DestinationStream {
  // Loaded only here, so that JSON logging never pays for loading pino-pretty.
  const { prettyFactory, isColorSupported } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const prettify = prettyFactory({
    // isColorSupported honours NO_COLOR and TERM=dumb.
    colorize: toTerminal && isColorSupported,
    singleLine: true,
    translateTime: 'SYS:standard',
    ignore: 'service',
  });

  return {
    write(line: string) {
      const text = prettify(line) as string | undefined;
      if (text) destination.write(text);
    },
  };
}
