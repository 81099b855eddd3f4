import pino, { type Logger } from 'pino';

/**
 * The process logger. Request lines never carry headers or bodies; the redaction below is a second guard
 * for credentials that might reach a log object some other way.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
    destination,
  );
}
