import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import type { TracingSettings } from '../config.js';
import type { StatementObserver } from '../storage/database.js';

/**
 * OpenTelemetry tracing: a server span per HTTP request and a child span per SQL statement that the request
 * runs, exported over OTLP/HTTP in batches.
 */
export interface Tracing {
  /** Adds the request spans to `app`. Call it before any other hook or route is added. */
  traceRequests(app: FastifyInstance): void;
  /** Records each statement that a traced request runs, for openDatabase. */
  observeStatements: StatementObserver;
  /** Exports the spans that are still queued; an export that fails is logged, not thrown. */
  flush(): Promise<void>;
  /** Exports the last spans and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing. The OpenTelemetry modules are loaded here and only here, so that a server without an OTLP
 * endpoint never loads them and its requests never pass through tracing code.
 */
export async function startTracing(settings: TracingSettings, trustedProxies: readonly string[] | false, logger: Logger): Promise<Tracing> {
  const { OpenTelemetryTracing } = await import('./open-telemetry-tracing.js');
  return new OpenTelemetryTracing(settings, trustedProxies, logger);
}
