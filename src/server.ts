import cluster from 'node:cluster';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import { buildApp } from './app.js';
import type { Config } from './config.js';
import { MailWorker } from './mail/mail-worker.js';
import { createMailTransport } from './mail/transport.js';
import { type MetricsListener, startMetricsListener } from './metrics/metrics-listener.js';
import { ServerMetrics } from './metrics/server-metrics.js';
import { PasswordHasher } from './passwords/password-hasher.js';
import { openStore } from './storage/store.js';
import { startTracing, type Tracing } from './tracing/tracing.js';

export interface RunningServer {
  app: FastifyInstance;
  /** Base URL the server listens on, such as http://127.0.0.1:8080. */
  url: string;
  mailWorker: MailWorker;
  hasher: PasswordHasher;
  metrics: ServerMetrics;
  /**
   * Base URL of the metrics listener, or null without METRICS_PORT and in a worker of WORKERS=N. The metrics
   * are at `${metricsUrl}/metrics`.
   */
  metricsUrl: string | null;
  /** The OpenTelemetry tracing, or null without an OTLP endpoint. */
  tracing: Tracing | null;
  /** Stops accepting connections, finishes open requests and the mail in hand, then closes the store. */
  stop(): Promise<void>;
}

/** Opens the store (running migrations), starts the mail worker and listens, with METRICS_PORT on a second port too. */
export async function startServer(config: Readonly<Config>, logger: Logger): Promise<RunningServer> {
  const tracing = config.tracing ? await startTracing(config.tracing, config.trustedProxies, logger.child({ component: 'tracing' })) : null;
  // Only the code and message are logged: the driver's error objects can carry the whole connection.
  const store = await openStore(
    config.databaseUrl,
    config,
    (error) => logger.warn({ code: (error as { code?: string }).code, reason: error.message }, 'database connection lost; the next query reconnects'),
    tracing?.observeStatements,
  );
  const transport = createMailTransport(config.smtpUrl, path.join(config.dataDir, 'mail'), config.mailFrom);
  const hasher = new PasswordHasher(config.hash);
  const metricsLogger = logger.child({ component: 'metrics' });
  const metrics = new ServerMetrics({
    store,
    hasher,
    poolSize: config.databasePoolSize,
    token: config.metrics.token,
    logger: metricsLogger,
    clusterWorker: cluster.isWorker,
  });
  const mailWorker = new MailWorker(
    store.outbox,
    transport,
    { pollMilliseconds: config.mailPollMilliseconds, leaseSeconds: config.mailLeaseSeconds, maxAttempts: config.mailMaxAttempts },
    logger.child({ component: 'mail' }),
    metrics.countDelivery,
  );

  let app: FastifyInstance;
  let metricsListener: MetricsListener | null = null;
  try {
    // With WORKERS above 1 the primary process serves METRICS_PORT.
    if (config.metrics.port !== null && !cluster.isWorker) {
      metricsListener = await startMetricsListener(metrics, { host: config.metrics.host, port: config.metrics.port }, metricsLogger);
    }
    app = await buildApp({ config, store, hasher, metrics, logger, tracing, onMailQueued: () => mailWorker.wake() });
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await metricsListener?.close();
    transport.close();
    await store.close();
    await tracing?.shutdown();
    throw error;
  }

  mailWorker.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;

  const metricsUrl = metricsListener?.url ?? null;

  logger.info({ address: url, metrics: metricsUrl, store: store.description, mail: transport.description }, 'sigma-accounts started');

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      await app.close();
      await mailWorker.stop();
      // The metrics listener stays up while requests finish, and stops before the store its gauges read.
      await metricsListener?.close();
      transport.close();
      await store.close();
      // The spans of the last requests are exported before the process ends.
      await tracing?.shutdown();
      logger.info('sigma-accounts stopped');
    })();
    return stopping;
  };

  return { app, url, mailWorker, hasher, metrics, metricsUrl, tracing, stop };
}
