import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';

import type { ActionRouteDocs, OperationDocs, RouteDocs } from '../api-docs/operation-docs.js';
import { ApiError } from './api-error.js';

export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export type ResourceMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

// The methods Fastify routes without addHttpMethod; others, such as PROPFIND, get 404 as on unknown paths.
const ALL_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'TRACE', 'QUERY'];

/**
 * Registers the handlers of one resource, each with its entry in the OpenAPI document. HEAD follows GET,
 * OPTIONS returns 200 with the allowed methods, and every other method gets 405 with an `Allow` header.
 */
export function registerResource<M extends ResourceMethod>(
  app: FastifyInstance,
  url: string,
  handlers: Record<M, Handler>,
  docs: Record<M, OperationDocs | ActionRouteDocs>,
): void {
  const methods = Object.keys(handlers) as M[];
  const allowed: HTTPMethods[] = [...methods];
  if (methods.includes('GET' as M)) allowed.push('HEAD');
  allowed.push('OPTIONS');
  const allow = allowed.join(', ');

  for (const method of methods) {
    const handler: Handler = handlers[method];
    const entry = docs[method];
    const routeDocs: RouteDocs = 'actions' in entry ? { actions: entry } : { operation: entry };
    app.route({ method: method === 'GET' ? ['GET', 'HEAD'] : method, url, handler, config: { docs: routeDocs } });
  }

  app.route({
    method: 'OPTIONS',
    url,
    config: { docs: { generic: 'options' } },
    handler: async (_request, reply) => {
      reply.header('Allow', allow);
      return { methods: allowed };
    },
  });

  const refused = ALL_METHODS.filter((method) => !allowed.includes(method));
  if (refused.length === 0) return;

  app.route({
    method: refused,
    url,
    config: { docs: { generic: 'method-not-allowed' } },
    handler: async (request) => {
      throw new ApiError(
        405,
        [{ error_type: 'validation', error_message: `method ${request.method} is not allowed here; use ${allow}`, error_point: null }],
        { Allow: allow },
      );
    },
  });
}
