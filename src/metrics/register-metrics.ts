import type { FastifyInstance } from 'fastify';

import type { OperationDocs } from '../api-docs/operation-docs.js';
import { ApiError, notAuthenticatedError } from '../http/api-error.js';
import { registerResource } from '../http/resource.js';
import { type BearerTokenCheck, METRICS_CHALLENGE } from './bearer-token.js';
import { MetricsUnavailableError } from './cluster-messages.js';
import { registerRequestMetrics } from './request-metrics.js';
import type { ServerMetrics } from './server-metrics.js';

/**
 * Adds the metrics to the app: the hooks that observe every response and, when METRICS_TOKEN is set,
 * `GET /metrics` on the public listener for requests that carry the token. Without the token, `/metrics`
 * is an unknown path (404) here. Call it before any route is registered; `actionNames` are the `do`
 * values of the action routes.
 */
export function registerMetrics(app: FastifyInstance, metrics: ServerMetrics, actionNames: readonly string[]): void {
  registerRequestMetrics(app, metrics, actionNames);
  if (metrics.tokenCheck) registerMetricsRoute(app, metrics, metrics.tokenCheck);
}

// Seconds a scraper should wait after a 503, when the metrics of every worker could not be gathered.
const RETRY_AFTER_SECONDS = 5;

const METRICS_DOCS: OperationDocs = {
  tag: 'metrics',
  summary: 'The Prometheus metrics of this server, in the text format',
  description: 'With WORKERS above 1, the metrics of every worker process: counters and histograms summed, and the `process_` and `nodejs_` series of each worker by its `pid` label. A 503 means that they could not be gathered from every worker this time.',
  access: { credentials: ['metricsToken'], csrf: false },
  response: { description: 'The metrics.', mediaType: 'text/plain' },
  errors: [503],
};

function registerMetricsRoute(app: FastifyInstance, metrics: ServerMetrics, tokenCheck: BearerTokenCheck): void {
  registerResource(app, '/metrics', {
    GET: async (request, reply) => {
      if (!tokenCheck.accepts(request.headers.authorization)) {
        throw notAuthenticatedError([METRICS_CHALLENGE], 'metrics require the header "Authorization: Bearer TOKEN" with the token that METRICS_TOKEN sets');
      }

      // Only after the token check: a request without the token must not make the primary ask every worker.
      const text = await metrics.render().catch((error: unknown) => {
        if (!(error instanceof MetricsUnavailableError)) throw error;
        throw new ApiError(
          503,
          [{ error_type: 'backend', error_message: error.message, error_point: null }],
          { 'Retry-After': String(RETRY_AFTER_SECONDS) },
          error,
        );
      });
      reply.type(metrics.contentType).header('Cache-Control', 'no-store');
      return text;
    },
  }, { GET: METRICS_DOCS });
}
