import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';

import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import type { TracingSettings } from '../config.js';
import { trustedPeerCheck } from '../http/trusted-proxies.js';
import type { Dialect } from '../storage/database.js';
import { ExportFailureLog } from './export-failure-log.js';
import { registerRequestSpans, type RequestTrace } from './request-spans.js';
import { statementSpanRecorder } from './statement-spans.js';
import type { Tracing } from './tracing.js';

/**
 * Tracing with the OpenTelemetry SDK: spans are batched (the SDK's OTEL_BSP_* defaults: every 5 s or 512
 * spans, at most 2048 queued) and posted as OTLP JSON. The SDK also reads its standard OTEL_TRACES_SAMPLER
 * and span limit variables, and the exporter OTEL_EXPORTER_OTLP_HEADERS, _COMPRESSION and _CERTIFICATE.
 */
export class OpenTelemetryTracing implements Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly failures: ExportFailureLog;
  private readonly tracer: Tracer;
  // The trace of the request whose code is running. AsyncLocalStorage is used only here, so that a server
  // without tracing does not pay for it on every request.
  private readonly requests = new AsyncLocalStorage<RequestTrace>();
  private readonly isTrustedPeer: (peerAddress: string | undefined) => boolean;

  constructor(settings: TracingSettings, trustedProxies: readonly string[] | false, logger: Logger) {
    const version = packageVersion();
    const exporter = new OTLPTraceExporter({ url: settings.tracesUrl, timeoutMillis: settings.exportTimeoutMs });
    this.failures = new ExportFailureLog(exporter, logger);

    this.provider = new BasicTracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: version })),
      spanProcessors: [new BatchSpanProcessor(this.failures)],
    });
    this.tracer = this.provider.getTracer('sigma-accounts', version);
    this.isTrustedPeer = trustedPeerCheck(trustedProxies);

    logger.info({ traces: withoutCredentials(settings.tracesUrl), serviceName: settings.serviceName }, 'exporting traces over OTLP/HTTP');
  }

  traceRequests(app: FastifyInstance): void {
    registerRequestSpans(app, this.tracer, this.requests, this.isTrustedPeer);
  }

  observeStatements = (dialect: Dialect) => statementSpanRecorder(this.tracer, this.requests, dialect);

  // Both resolve even when an export fails: ExportFailureLog logs the failure when the exporter reports it,
  // which it does within its timeout, also when the batch processor stopped waiting for it earlier.
  async flush(): Promise<void> {
    await this.provider.forceFlush().catch(() => {});
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {});
  }
}

function packageVersion(): string {
  const manifest = createRequire(import.meta.url)('../../package.json') as { version: string };
  return manifest.version;
}

function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}
