import type { FastifyInstance } from 'fastify';

import type { OperationDocs } from '../api-docs/operation-docs.js';
import { notAuthenticatedError } from '../http/api-error.js';
import { registerResource } from '../http/resource.js';
import { type BearerTokenCheck, METRICS_CHALLENGE } from './bearer-token.js';
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

const METRICS_DOCS: OperationDocs = {
  tag: 'metrics',
  summary: 'The Prometheus metrics of this process, in the text format',
  access: { credentials: ['metricsToken'], csrf: false },
  response: { description: 'The metrics.', mediaType: 'text/plain' },
};

function registerMetricsRoute(app: FastifyInstance, metrics: ServerMetrics, tokenCheck: BearerTokenCheck): void {
  registerResource(app, '/metrics', {
    GET: async (request, reply) => {
      if (!tokenCheck.accepts(request.headers.authorization)) {
        throw notAuthenticatedError([METRICS_CHALLENGE], 'metrics require the header "Authorization: Bearer TOKEN" with the token that METRICS_TOKEN sets');
      }

      const text = await metrics.render();
      reply.type(metrics.contentType).header('Cache-Control', 'no-store');
      return text;
    },
  }, { GET: METRICS_DOCS });
}
