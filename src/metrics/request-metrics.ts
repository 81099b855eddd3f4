import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler, RouteOptions } from 'fastify';
import type { Counter, Histogram } from 'prom-client';

import { LOGIN_ACTIONS, LOGIN_OUTCOMES, type LoginOutcome, loginOutcomeOf } from './login-outcomes.js';
import type { RequestLabel, ServerMetrics } from './server-metrics.js';

// Label values of requests outside any route, of routes without actions, and of a `do` that names no action.
const NO_ROUTE = '(no route)';
const NO_ACTION = '';
const UNKNOWN_ACTION = '(unknown)';

/**
 * Observes every response in the request duration histogram. Labels hold the route pattern, never the path,
 * because a path may contain anything, such as an email address. On an action route (its pattern ends in
 * `/action/`, as registerActions makes it) the `do` parameter is the action label when it names one of
 * `actionNames`, so that no client can add label values. Login and verify_otp responses are also counted
 * by outcome.
 *
 * Each route gets its own onResponse hook, added as the route is registered, which keeps that route's
 * label children, so a response costs a few map lookups and one observation. Reading the route from the
 * request instead would build Fastify's routeOptions object on every response. An app-wide hook counts the
 * requests that match no route and returns at once for the others. Call this before any route is
 * registered, because routes registered earlier get no hook.
 */
export function registerRequestMetrics(app: FastifyInstance, metrics: ServerMetrics, actionNames: readonly string[]): void {
  app.addHook('onRoute', (route) => {
    const series = route.url.endsWith('/action/')
      ? new ActionRouteSeries(metrics, route.url, actionNames)
      : new RouteSeries(metrics.requestDuration, route.url, NO_ACTION);
    addResponseHook(route, (request, reply, done) => {
      series.observe(request, reply);
      done();
    });
  });

  // Requests that match no route get the 404 handler's context, which has only the hooks of the app.
  const unmatched = new RouteSeries(metrics.requestDuration, NO_ROUTE, NO_ACTION);
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched.observe(request, reply);
    done();
  });
}

function addResponseHook(route: RouteOptions, hook: onResponseHookHandler): void {
  const existing = route.onResponse;
  if (existing === undefined) route.onResponse = [hook];
  else route.onResponse = Array.isArray(existing) ? [...existing, hook] : [existing, hook];
}

type Observer = Histogram.Internal<RequestLabel>;

/** The histogram children of one route and action, made on first use for each method and status. */
class RouteSeries {
  private readonly byMethod = new Map<string, Map<number, Observer>>();

  constructor(
    private readonly histogram: Histogram<RequestLabel>,
    private readonly route: string,
    private readonly action: string,
  ) {}

  observe(request: FastifyRequest, reply: FastifyReply): void {
    const method = request.method;
    const status = reply.statusCode;

    let byStatus = this.byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.byMethod.set(method, byStatus);
    }
    let observer = byStatus.get(status);
    if (observer === undefined) {
      observer = this.histogram.labels(this.route, this.action, method, String(status));
      byStatus.set(status, observer);
    }

    observer.observe(reply.elapsedTime / 1000);
  }
}

/** The series of an action route: one per action, and the login outcome counters of login and verify_otp. */
class ActionRouteSeries {
  private readonly byAction = new Map<string, RouteSeries>();
  private readonly unknown: RouteSeries;
  private readonly outcomes = new Map<string, Record<LoginOutcome, Counter.Internal>>();

  constructor(metrics: ServerMetrics, route: string, actionNames: readonly string[]) {
    for (const name of actionNames) this.byAction.set(name, new RouteSeries(metrics.requestDuration, route, name));
    this.unknown = new RouteSeries(metrics.requestDuration, route, UNKNOWN_ACTION);

    for (const action of LOGIN_ACTIONS) {
      const counters = Object.fromEntries(LOGIN_OUTCOMES.map((outcome) => [outcome, metrics.loginAttempts.labels(action, outcome)]));
      this.outcomes.set(action, counters as Record<LoginOutcome, Counter.Internal>);
    }
  }

  observe(request: FastifyRequest, reply: FastifyReply): void {
    const name = (request.query as { do?: unknown } | undefined)?.do;
    const action = typeof name === 'string' ? name : UNKNOWN_ACTION;

    (this.byAction.get(action) ?? this.unknown).observe(request, reply);
    this.outcomes.get(action)?.[loginOutcomeOf(request, reply.statusCode)].inc();
  }
}
