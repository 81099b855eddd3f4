import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Returns the request id on every response as `X-REQUEST-ID` and logs one line per request. The line
 * carries the route but never the query string or headers, which can hold tokens and credentials.
 */
export function registerRequestLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-REQUEST-ID', request.id);
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        // The route pattern, not the path: an unknown path may hold anything, such as an email address.
        route: request.routeOptions.url ?? '(no route)',
        action: actionOf(request),
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ip: request.ip,
      },
      'request completed',
    );
  });
}

/** Returns the `do` action of a request when it is a well-formed action name, which is safe to log. */
export function actionOf(request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined;
  return typeof query?.do === 'string' && /^[a-z_]{1,64}$/.test(query.do) ? query.do : undefined;
}
