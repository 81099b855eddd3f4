import type { AsyncLocalStorage } from 'node:async_hooks';

import { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { actionOf } from '../http/request-log.js';
import { remoteParentOf } from './trace-context.js';

/** The trace of one request, which every asynchronous step of that request can read. */
export interface RequestTrace {
  /** The context whose active span is the request's server span. */
  context: Context;
  /** False once the response is sent: work that outlives the request adds no spans to it. */
  open: boolean;
}

/** Attribute that carries the `do` action of `?do=NAME` requests. */
export const ATTR_ACTION = 'sigma_accounts.action';

/**
 * Adds a server span to every routed request, named by method and route pattern. Its attributes never contain
 * the path, the query string (apart from a well-formed `do` action), headers or the body, which can carry
 * ids, addresses and secrets. The request runs inside `requests`, so the spans of its SQL statements become
 * children of its span. A `traceparent` header is followed only from a trusted proxy, so that other clients
 * cannot attach their requests to someone else's trace.
 */
export function registerRequestSpans(
  app: FastifyInstance,
  tracer: Tracer,
  requests: AsyncLocalStorage<RequestTrace>,
  isTrustedPeer: (peerAddress: string | undefined) => boolean,
): void {
  const spans = new WeakMap<FastifyRequest, { span: Span; trace: RequestTrace }>();

  // A callback hook rather than an async one: everything after `done` (the other hooks, the body, the
  // handler, the response) runs inside `requests.run`.
  app.addHook('onRequest', (request, reply, done) => {
    const parent = isTrustedPeer(request.socket.remoteAddress) ? remoteParentOf(request.headers) : ROOT_CONTEXT;
    const route = request.routeOptions.url;
    const action = actionOf(request);

    const span = tracer.startSpan(
      route === undefined ? request.method : `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          ...(route === undefined ? {} : { [ATTR_HTTP_ROUTE]: route }),
          ...(action === undefined ? {} : { [ATTR_ACTION]: action }),
          [ATTR_URL_SCHEME]: request.protocol,
          [ATTR_NETWORK_PROTOCOL_VERSION]: request.raw.httpVersion,
          ...(request.ip === undefined ? {} : { [ATTR_CLIENT_ADDRESS]: request.ip }),
        },
      },
      parent,
    );

    const requestTrace: RequestTrace = { context: trace.setSpan(parent, span), open: true };
    spans.set(request, { span, trace: requestTrace });
    // The trace id in every log line of the request ties the logs to the trace.
    request.log = request.log.child({ traceId: span.spanContext().traceId });
    reply.log = request.log;

    requests.run(requestTrace, done);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const entry = spans.get(request);
    if (entry) {
      spans.delete(request);
      entry.trace.open = false;

      const status = reply.statusCode;
      entry.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      // Only a 5xx is the server's failure; a 4xx is the client's and leaves the server span unset.
      if (status >= 500) {
        entry.span.setAttribute(ATTR_ERROR_TYPE, String(status));
        entry.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      entry.span.end();
    }
    done();
  });

  app.addHook('onRequestAbort', (request, done) => {
    const entry = spans.get(request);
    if (entry) {
      spans.delete(request);
      entry.trace.open = false;
      // The client's doing, so the status stays unset, as for a 4xx.
      entry.span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
      entry.span.end();
    }
    done();
  });
}
