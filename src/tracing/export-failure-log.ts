import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';

type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];

// ExportResultCode.SUCCESS of @opentelemetry/core, which this package does not depend on directly.
const EXPORT_SUCCESS = 0;
// A receiver that is down fails every batch, so one line a minute reports it without flooding the log.
const REPORT_INTERVAL_MS = 60_000;
const MAX_REASON_LENGTH = 200;

/**
 * Logs failed trace exports, at most once a minute, with the number of failures and of dropped spans since
 * the last line. Wraps the exporter of the batch span processor, which otherwise reports failures only to
 * OpenTelemetry's diagnostic logger, silent by default. Spans are exported after their requests, so a failure
 * never reaches a request.
 */
export class ExportFailureLog implements SpanExporter {
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private droppedSpans = 0;

  constructor(
    private readonly exporter: SpanExporter,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly now: () => number = Date.now,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exporter.export(spans, (result) => {
      if (result.code !== EXPORT_SUCCESS) this.report(result.error, spans.length);
      resultCallback(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }

  /** Counts a failure, and logs it unless a failure was logged within the last minute. */
  private report(error: unknown, droppedSpans: number): void {
    this.failures += 1;
    this.droppedSpans += droppedSpans;

    const now = this.now();
    if (now - this.lastReportAt < REPORT_INTERVAL_MS) return;

    this.log.warn(
      { reason: reasonOf(error), failures: this.failures, droppedSpans: this.droppedSpans },
      'trace export failed; the spans are dropped (logged at most once a minute, with counts since the last line)',
    );
    this.lastReportAt = now;
    this.failures = 0;
    this.droppedSpans = 0;
  }
}

/** Returns the system error code of a failure, such as ECONNREFUSED, or the start of its message. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;

  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, MAX_REASON_LENGTH);
}
