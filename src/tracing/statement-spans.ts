import type { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

import { type Attributes, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
} from '@opentelemetry/semantic-conventions';
import type { LogEvent } from 'kysely';

import type { Dialect } from '../storage/database.js';
import type { RequestTrace } from './request-spans.js';

// The attribute that semantic conventions before 1.26 named db.system; many trace backends still read it.
const ATTR_DB_SYSTEM = 'db.system';

const SYSTEM_NAMES: Record<Dialect, string> = { sqlite: 'sqlite', postgres: 'postgresql' };

// The first word of a statement (SELECT, INSERT, BEGIN, ...), and the table after FROM, INTO or UPDATE.
const OPERATION = /^\s*([A-Za-z]+)/;
const TABLE = /\b(?:from|into|update)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?/i;
// A string literal, a quoted identifier (kept), or a number that is not part of a name or a $n placeholder.
const LITERAL = /'(?:[^']|'')*'|"(?:[^"]|"")*"|(?<![\w$])\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi;

/**
 * Returns the function that Kysely calls after every statement (its `log` option), which records the
 * statement as a child span of the traced request that ran it. Statements that run outside a request, or
 * after its response (background work such as mail delivery), are not recorded.
 *
 * The span contains the SQL text as Kysely compiled it, with `?` or `$n` in place of every parameter, so no
 * parameter (a digest, an address, a hash) reaches it. Kysely writes some values into the text itself (those
 * of `case().then(value)`, for one), so literals are replaced by `?` as well.
 */
export function statementSpanRecorder(tracer: Tracer, requests: AsyncLocalStorage<RequestTrace>, dialect: Dialect): (event: LogEvent) => void {
  const system = SYSTEM_NAMES[dialect];

  return (event) => {
    const request = requests.getStore();
    if (!request?.open) return;

    // Kysely reports the duration once the statement has finished, so the span is made after the fact.
    const end = performance.timeOrigin + performance.now();
    const start = end - event.queryDurationMillis;
    const text = withoutLiterals(event.query.sql);
    const operation = OPERATION.exec(text)?.[1]?.toUpperCase();
    const table = TABLE.exec(text)?.[1];

    const attributes: Attributes = { [ATTR_DB_SYSTEM_NAME]: system, [ATTR_DB_SYSTEM]: system, [ATTR_DB_QUERY_TEXT]: text };
    if (operation !== undefined) attributes[ATTR_DB_OPERATION_NAME] = operation;
    if (table !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = table;

    const name = [operation, table].filter(Boolean).join(' ') || system;
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: start, attributes }, request.context);
    if (event.level === 'error') {
      // The code only: a driver's message can quote the values of the statement.
      span.setAttribute(ATTR_ERROR_TYPE, errorCodeOf(event.error));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(end);
  };
}

/** Replaces every string and number literal in a statement by `?`, and keeps quoted identifiers. */
export function withoutLiterals(text: string): string {
  return text.replace(LITERAL, (literal) => (literal.startsWith('"') ? literal : '?'));
}

function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  return error instanceof Error ? error.name : 'unknown';
}
