import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';

import { ApiError } from './api-error.js';

export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const ALL_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Registers the handlers of one resource. HEAD follows GET, OPTIONS returns 200 with the allowed methods,
 * and every other method gets 405 with an `Allow` header.
 */
export function registerResource(app: FastifyInstance, url: string, handlers: Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE', Handler>>): void {
  const allowed = Object.keys(handlers) as HTTPMethods[];
  if (handlers.GET) allowed.push('HEAD');
  allowed.push('OPTIONS');
  const allow = allowed.join(', ');

  for (const [method, handler] of Object.entries(handlers)) {
    app.route({ method: method === 'GET' ? ['GET', 'HEAD'] : (method as HTTPMethods), url, handler });
  }

  app.route({
    method: 'OPTIONS',
    url,
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
    handler: async (request) => {
      throw new ApiError(
        405,
        [{ error_type: 'validation', error_message: `method ${request.method} is not allowed here; use ${allow}`, error_point: null }],
        { Allow: allow },
      );
    },
  });
}
