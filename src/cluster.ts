import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';

import type { Config } from './config.js';
import { ClusterMetrics } from './metrics/cluster-metrics.js';
import { type MetricsListener, startMetricsListener } from './metrics/metrics-listener.js';
import { migrateToLatest, openDatabase } from './storage/database.js';

// A worker that dies after it listened is replaced after this pause, so that a worker that keeps crashing
// cannot spin the machine.
const RESTART_DELAY_MS = 1000;

/**
 * Runs the primary process of `WORKERS=N`: brings the schema up to date once, then starts N worker
 * processes that each serve on the same port (node:cluster hands connections to them in turn). A worker
 * that dies while serving is replaced. A worker that fails before it listens stops them all, because its
 * siblings would fail the same way. SIGTERM or SIGINT is passed on to every worker, and the primary exits
 * once they have stopped. Resolves with the exit code.
 *
 * With METRICS_PORT or METRICS_TOKEN set, the primary gathers the metrics of every worker for each scrape,
 * and serves METRICS_PORT itself. It opens no store and builds no app for that.
 */
export async function runPrimary(config: Readonly<Config>, logger: Logger): Promise<number> {
  const { db, description } = openDatabase(config.databaseUrl, config);
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }

  const metricsLogger = logger.child({ component: 'metrics' });
  const metricsExposed = config.metrics.port !== null || config.metrics.token !== null;
  const metrics = metricsExposed ? new ClusterMetrics(config.metrics.token, metricsLogger) : null;
  let metricsListener: MetricsListener | null = null;
  if (metrics && config.metrics.port !== null) {
    metricsListener = await startMetricsListener(metrics, { host: config.metrics.host, port: config.metrics.port }, metricsLogger);
  }
  logger.info({ workers: config.workers, store: description, metrics: metricsListener?.url ?? null }, 'starting workers');

  const listening = new WeakSet<Worker>();
  let stopping = false;
  let exitCode = 0;

  const fork = () => {
    const worker = cluster.fork();
    worker.once('listening', () => listening.add(worker));
    // Without a listener, a failed message to a worker would end the primary. The exit handler below
    // deals with a worker that is gone.
    worker.on('error', (error) => logger.warn({ workerPid: worker.process.pid, err: error }, 'a message to a worker failed'));
  };

  // Workers always get SIGTERM: after a Ctrl-C they may already have had SIGINT from the terminal, and a
  // second SIGINT would end them without finishing their requests.
  const stopAll = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };

  return new Promise<number>((resolve) => {
    const finish = () => {
      const closing = metricsListener?.close() ?? Promise.resolve();
      closing.then(
        () => resolve(exitCode),
        (error: unknown) => {
          logger.error({ err: error }, 'the metrics listener failed to close');
          resolve(exitCode);
        },
      );
    };

    cluster.on('exit', (worker, code, signal) => {
      const running = Object.keys(cluster.workers ?? {}).length;
      if (stopping) {
        if (running === 0) {
          logger.info('every worker stopped');
          finish();
        }
        return;
      }

      if (!listening.has(worker)) {
        logger.error({ pid: worker.process.pid, code, signal }, 'a worker failed before it listened; stopping every worker');
        exitCode = 1;
        stopAll();
        if (running === 0) finish();
        return;
      }

      logger.error({ pid: worker.process.pid, code, signal }, 'a worker exited; starting another');
      setTimeout(() => {
        if (!stopping) fork();
      }, RESTART_DELAY_MS);
    });

    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping workers');
      // A second signal during a slow stop ends the process, and with it the workers, at once.
      process.once(signal, () => process.exit(1));
      stopAll();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);

    for (let index = 0; index < config.workers; index += 1) fork();
  });
}
