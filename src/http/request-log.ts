import type { FastifyInstance } from 'fastify';

/**
 * Returns the request id on every response as `X-REQUEST-ID` and logs one line per request. The line
 * carries the route but never the query string or headers, which can hold tokens and credentials.
 */
export function registerRequestLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-REQUEST-ID', request.id);
  });

  app.addHook('onResponse', async (request, reply) => {
    const query = request.query as Record<string, unknown> | undefined;
    const action = typeof query?.do === 'string' && /^[a-z_]{1,64}$/.test(query.do) ? query.do : undefined;

    request.log.info(
      {
        method: request.method,
        // The route pattern, not the path: an unknown path may hold anything, such as an email address.
        route: request.routeOptions.url ?? '(no route)',
        action,
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ip: request.ip,
      },
      'request completed',
    );
  });
}
