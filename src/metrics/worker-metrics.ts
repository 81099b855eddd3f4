import { AggregatorRegistry, type Registry } from 'prom-client';

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

// prom-client 15.1 gives up on a worker that does not respond within 5 s, and the primary then responds with
// an error. A worker waits longer than that, so it gives up by itself only when the primary does not respond.
const PRIMARY_TIMEOUT_MS = 7000;

/**
 * Lets the primary process of WORKERS=N collect `registry` each time it gathers the metrics of every worker,
 * then sends the primary METRICS_READY. Call it once, in a worker.
 */
export function shareMetricsWithPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // The constructor installs prom-client's handler of the primary's requests; the instance itself is unused.
  new AggregatorRegistry();

  const ready: MetricsReady = { type: METRICS_READY };
  process.send?.(ready);
}

interface PendingRequest {
  resolve(text: string): void;
  reject(error: Error): void;
}

/** Asks the primary process of WORKERS=N for the metrics of every worker, for `/metrics` on the public port. */
export class PrimaryMetricsClient {
  private nextId = 0;
  private readonly pending = new Map<number, PendingRequest>();
  private listening = false;

  /**
   * Returns the text of one scrape of every worker. Rejects with MetricsUnavailableError when the primary
   * could not gather it, or did not respond within 7 s.
   */
  request(): Promise<string> {
    const send = process.send?.bind(process);
    if (!send) return Promise.reject(new MetricsUnavailableError('this process has no primary process'));
    this.listen();

    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MetricsUnavailableError(`the primary process did not respond within ${PRIMARY_TIMEOUT_MS / 1000} s`));
      }, PRIMARY_TIMEOUT_MS);

      const settle = (finish: () => void) => {
        clearTimeout(timer);
        this.pending.delete(id);
        finish();
      };
      this.pending.set(id, {
        resolve: (text) => settle(() => resolve(text)),
        reject: (error) => settle(() => reject(error)),
      });

      const request: ClusterMetricsRequest = { type: CLUSTER_METRICS_REQUEST, id };
      send(request, undefined, undefined, (error: Error | null) => {
        if (error) this.pending.get(id)?.reject(new MetricsUnavailableError('the request to the primary process could not be sent'));
      });
    });
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;

    process.on('message', (message: unknown) => {
      if (!isMessageOf<ClusterMetricsResponse>(message, CLUSTER_METRICS_RESPONSE)) return;

      const request = this.pending.get(message.id);
      if (!request) return;
      if ('text' in message) request.resolve(message.text);
      else request.reject(new MetricsUnavailableError(message.reason));
    });
  }
}
