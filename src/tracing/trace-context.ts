import type { IncomingHttpHeaders } from 'node:http';

import { type Context, createTraceState, isSpanContextValid, ROOT_CONTEXT, type SpanContext, trace, TraceFlags } from '@opentelemetry/api';

// The traceparent header of W3C Trace Context: version, trace id, parent span id and flags in lower-case hex.
// Versions after 00 may append fields, which this version does not read.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Returns the context of the caller's span named by the `traceparent` (and `tracestate`) headers of W3C Trace
 * Context, or the root context when there is no valid `traceparent`, so that the request starts a new trace.
 */
export function remoteParentOf(headers: IncomingHttpHeaders): Context {
  const { traceparent, tracestate } = headers;
  const parent = typeof traceparent === 'string' ? spanContextOf(traceparent, typeof tracestate === 'string' ? tracestate : undefined) : null;
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

function spanContextOf(traceparent: string, tracestate: string | undefined): SpanContext | null {
  // A repeated traceparent header arrives joined by ", " and so fails the pattern, as the specification requires.
  const match = TRACEPARENT.exec(traceparent.trim());
  if (!match) return null;

  const [, version, traceId = '', spanId = '', flags = '', rest] = match;
  // Version ff is invalid, and version 00 has exactly four fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;

  const context: SpanContext = {
    traceId,
    spanId,
    // Only the sampled flag is defined; other bits are not passed on.
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  // isSpanContextValid rejects the all-zero ids that the specification forbids.
  if (!isSpanContextValid(context)) return null;

  // createTraceState drops invalid members, and the whole header when it is longer than 512 characters.
  if (tracestate !== undefined) context.traceState = createTraceState(tracestate);
  return context;
}
