import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';

import { BearerTokenCheck } from './bearer-token.js';
import {
  CLUSTER_METRICS_REQUEST,
  CLUSTER_METRICS_RESPONSE,
  type ClusterMetricsRequest,
  type ClusterMetricsResponse,
  isMessageOf,
  METRICS_READY,
  type MetricsReady,
  MetricsUnavailableError,
} from './cluster-messages.js';

/**
 * The metrics of every worker of WORKERS=N, gathered by the primary process for each scrape with
 * prom-client's AggregatorRegistry, which requests the registry of every connected worker and merges them
 * by each metric's `aggregator`. Counters and histograms are summed, and the `process_` and `nodejs_` series
 * carry the `pid` label of their worker (see ServerMetrics). It serves the metrics listener of the primary,
 * and the workers that serve `/metrics` on the public port request the text from it over the IPC channel.
 *
 * A scrape fails with MetricsUnavailableError, rather than showing some workers only, when a worker is still
 * starting, or has not responded within prom-client's 5 s (prom-client 15.1 fixes that timeout), or failed to
 * collect. Without a worker's counters the sums would drop, and Prometheus would take the drop for a reset.
 *
 * NOTE: prom-client 15.1 keeps the responses to a scrape that timed out until the silent worker responds too,
 * so while a worker hangs without exiting, the primary's memory grows by one set of responses per scrape.
 */
export class ClusterMetrics {
  /** The check of METRICS_TOKEN, or null when no token is set. */
  readonly tokenCheck: BearerTokenCheck | null;
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  private readonly aggregator = new AggregatorRegistry();
  // Workers that have sent METRICS_READY. Before that, a worker has no handler of prom-client's requests.
  private readonly ready = new WeakSet<Worker>();
  private failing = false;

  constructor(
    token: string | null,
    private readonly logger: Logger,
  ) {
    this.tokenCheck = token === null ? null : new BearerTokenCheck(token);
    cluster.on('message', (worker, message: unknown) => this.receive(worker, message));
  }

  /** Gathers the metrics of every worker and returns them in the Prometheus text format. */
  async render(): Promise<string> {
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker?.isConnected() === true);
    if (workers.length === 0) throw this.failure('no worker is running');
    if (workers.some((worker) => !this.ready.has(worker))) throw this.failure('a worker is starting');

    let text: string;
    try {
      text = await this.aggregator.clusterMetrics();
    } catch (error) {
      throw this.failure('a worker did not respond within 5 s or failed to collect its metrics', error);
    }

    if (this.failing) this.logger.info('the metrics of every worker can be gathered again');
    this.failing = false;
    return text;
  }

  /** Logs the first failure of a run of them, and returns the error for the scrape. */
  private failure(reason: string, cause?: unknown): MetricsUnavailableError {
    if (!this.failing) {
      // prom-client's own message, such as "Operation timed out.", goes to the log only.
      const detail = cause instanceof Error ? cause.message : undefined;
      this.logger.warn({ reason, detail }, 'the metrics of every worker could not be gathered; scrapes get 503 until they can');
    }
    this.failing = true;
    return new MetricsUnavailableError(reason);
  }

  private receive(worker: Worker, message: unknown): void {
    if (isMessageOf<MetricsReady>(message, METRICS_READY)) {
      this.ready.add(worker);
      return;
    }
    if (!isMessageOf<ClusterMetricsRequest>(message, CLUSTER_METRICS_REQUEST)) return;

    const id = message.id;
    this.render().then(
      (text) => respond(worker, { type: CLUSTER_METRICS_RESPONSE, id, text }),
      (error: unknown) => {
        const reason = error instanceof MetricsUnavailableError ? error.reason : 'the primary process failed';
        respond(worker, { type: CLUSTER_METRICS_RESPONSE, id, reason });
      },
    );
  }
}

function respond(worker: Worker, response: ClusterMetricsResponse): void {
  if (!worker.isConnected()) return;
  // With a callback, a failed send is passed to it rather than emitted as an error event, which would end
  // the primary. The worker gives up waiting by itself.
  worker.send(response, () => {});
}
