import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import { buildApp } from './app.js';
import type { Config } from './config.js';
import { MailWorker } from './mail/mail-worker.js';
import { createMailTransport } from './mail/transport.js';
import { PasswordHasher } from './passwords/password-hasher.js';
import { openStore } from './storage/store.js';

export interface RunningServer {
  app: FastifyInstance;
  /** Base URL the server listens on, such as http://127.0.0.1:8080. */
  url: string;
  mailWorker: MailWorker;
  hasher: PasswordHasher;
  /** Stops accepting connections, finishes open requests and the mail in hand, then closes the store. */
  stop(): Promise<void>;
}

/** Opens the store (running migrations), starts the mail worker and listens. */
export async function startServer(config: Readonly<Config>, logger: Logger): Promise<RunningServer> {
  // Only the code and message are logged: the driver's error objects can carry the whole connection.
  const store = await openStore(config.databaseUrl, config, (error) =>
    logger.warn({ code: (error as { code?: string }).code, reason: error.message }, 'database connection lost; the next query reconnects'),
  );
  const transport = createMailTransport(config.smtpUrl, path.join(config.dataDir, 'mail'), config.mailFrom);
  const mailWorker = new MailWorker(
    store.outbox,
    transport,
    { pollMilliseconds: config.mailPollMilliseconds, leaseSeconds: config.mailLeaseSeconds, maxAttempts: config.mailMaxAttempts },
    logger.child({ component: 'mail' }),
  );
  const hasher = new PasswordHasher(config.hash);

  let app: FastifyInstance;
  try {
    app = await buildApp({ config, store, hasher, logger, onMailQueued: () => mailWorker.wake() });
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    transport.close();
    await store.close();
    throw error;
  }

  mailWorker.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;

  logger.info({ address: url, store: store.description, mail: transport.description }, 'sigma-accounts started');

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      await app.close();
      await mailWorker.stop();
      transport.close();
      await store.close();
      logger.info('sigma-accounts stopped');
    })();
    return stopping;
  };

  return { app, url, mailWorker, hasher, stop };
}
