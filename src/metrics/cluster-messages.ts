// Messages between the primary process of WORKERS=N and its workers about metrics, sent over the
// node:cluster IPC channel. prom-client's AggregatorRegistry has messages of its own, whose types start
// with `prom-client:`, so these start with `sigma-accounts:`.

/** Sent by a worker once the primary may collect its registry. Until then a scrape gets 503 at once rather than wait 5 s for it. */
export const METRICS_READY = 'sigma-accounts:metrics-ready';
/** Sent by a worker that serves `/metrics` on the public port, to ask the primary for every worker's metrics. */
export const CLUSTER_METRICS_REQUEST = 'sigma-accounts:cluster-metrics-request';
/** The primary's response to a CLUSTER_METRICS_REQUEST: the text, or the reason it could not be gathered. */
export const CLUSTER_METRICS_RESPONSE = 'sigma-accounts:cluster-metrics-response';

export interface MetricsReady {
  type: typeof METRICS_READY;
}

export interface ClusterMetricsRequest {
  type: typeof CLUSTER_METRICS_REQUEST;
  id: number;
}

export type ClusterMetricsResponse =
  | { type: typeof CLUSTER_METRICS_RESPONSE; id: number; text: string }
  | { type: typeof CLUSTER_METRICS_RESPONSE; id: number; reason: string };

/**
 * Thrown when the metrics of every worker cannot be gathered for now: a worker is starting, did not respond
 * in time or failed to collect, or the primary did not respond. A scrape then gets 503; the next one tries
 * again. Reasons are written in this project, never taken from a library, so the message may go to the client.
 */
export class MetricsUnavailableError extends Error {
  override name = 'MetricsUnavailableError';

  constructor(readonly reason: string) {
    super(`the metrics of every worker could not be gathered: ${reason}; try again`);
  }
}

/** Returns whether `message` is one of type `type`, the only field every message has. */
export function isMessageOf<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}
