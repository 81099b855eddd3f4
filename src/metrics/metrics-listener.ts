import http from 'node:http';

import type { Logger } from 'pino';

import { type BearerTokenCheck, METRICS_CHALLENGE } from './bearer-token.js';
import { MetricsUnavailableError } from './cluster-messages.js';

// A scrape is one small GET, so a client slower than this keeps a connection open for nothing.
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
// Seconds a scraper should wait after a 503, when the metrics of every worker could not be gathered.
const RETRY_AFTER_SECONDS = 5;

/** The metrics a listener serves: those of one server, or in the primary of WORKERS=N those of every worker. */
export interface MetricsSource {
  /** The check of METRICS_TOKEN, or null when no token is set. */
  readonly tokenCheck: BearerTokenCheck | null;
  readonly contentType: string;
  /** Collects the metrics in the Prometheus text format; rejects with MetricsUnavailableError for a 503. */
  render(): Promise<string>;
}

export interface MetricsListener {
  /** Base URL of the listener, such as http://127.0.0.1:9464. The metrics are at `${url}/metrics`. */
  url: string;
  /** Stops accepting connections and waits for the scrapes in progress. */
  close(): Promise<void>;
}

/**
 * Starts the second, private HTTP listener that serves only `GET /metrics`, on METRICS_HOST and
 * METRICS_PORT. When METRICS_TOKEN is set, it requires the token here too. With WORKERS above 1 the primary
 * process runs it, and the workers do not.
 */
export async function startMetricsListener(
  metrics: MetricsSource,
  address: { host: string; port: number },
  logger: Logger,
): Promise<MetricsListener> {
  const server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    serve(metrics, logger, request, response);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'metrics listener failed'));

  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;

  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function serve(metrics: MetricsSource, logger: Logger, request: http.IncomingMessage, response: http.ServerResponse): void {
  const path = (request.url ?? '/').split('?', 1)[0];
  if (path !== '/metrics') {
    send(response, 404, 'not found: this listener serves only /metrics\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    send(response, 405, `method ${request.method} is not allowed here; use GET\n`, { Allow: 'GET, HEAD' });
    return;
  }
  if (metrics.tokenCheck && !metrics.tokenCheck.accepts(request.headers.authorization)) {
    send(response, 401, 'metrics require the header "Authorization: Bearer TOKEN" with the token that METRICS_TOKEN sets\n', {
      'WWW-Authenticate': METRICS_CHALLENGE,
    });
    return;
  }

  metrics.render().then(
    (text) => send(response, 200, text, { 'Content-Type': metrics.contentType }),
    (error: unknown) => {
      // The source has logged why, once for a run of failures.
      if (error instanceof MetricsUnavailableError) {
        send(response, 503, `${error.message}\n`, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
        return;
      }
      logger.error({ err: error }, 'metrics could not be collected');
      send(response, 500, 'metrics could not be collected; the server log has the reason\n');
    },
  );
}

function send(response: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
  // Node sends no body in the response to a HEAD request.
  response.end(body);
}
