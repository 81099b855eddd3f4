import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { MetricsUnavailableError } from '../metrics/cluster-messages.js';
import { HashQueueFullError } from '../passwords/hash-limiter.js';
import { isStoreUnavailable } from '../storage/store-errors.js';
import { ApiError, type ErrorEntry, notFoundError, validationError } from './api-error.js';
import { REALM } from './authentication.js';

/** Seconds a client should wait before retrying after the store was unavailable. */
const STORE_RETRY_AFTER_SECONDS = 2;
/** Seconds a client should wait before retrying a password check that the full hash queue shed. */
const HASH_QUEUE_RETRY_AFTER_SECONDS = 1;

/**
 * Installs the one place where errors become responses: every failure leaves as a CloudSigma error list,
 * and the message of an unexpected fault stays in the log, never in the response.
 */
export function registerErrorHandler(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setNotFoundHandler((request, reply) => {
    sendError(request, reply, notFoundError(`no resource at ${request.method} ${pathOf(request.url)}`));
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    sendError(request, reply, toApiError(error, request.id, bodyLimitBytes));
  });
}

export function toApiError(error: FastifyError, requestId: string, bodyLimitBytes: number): ApiError {
  if (error instanceof ApiError) return error;

  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, [entry(`request body is larger than the limit of ${bodyLimitBytes} bytes`)]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return validationError(null, 'Content-Type must be application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return validationError(null, 'Content-Length does not match the body');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return validationError(null, 'request body is empty');
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return validationError(null, 'request URL is malformed');
  }

  // Node's request stream fails this way when the client closes the connection before its body arrived.
  // Nobody receives the response, and the failure must not be logged as a store outage.
  if (error.code === 'ECONNRESET' && error.message === 'aborted') {
    return validationError(null, 'the client closed the connection before the request body arrived');
  }

  if (error instanceof HashQueueFullError) {
    return new ApiError(
      503,
      [{ error_type: 'backend', error_message: 'the server is busy checking other passwords; retry the request later', error_point: null }],
      { 'Retry-After': String(HASH_QUEUE_RETRY_AFTER_SECONDS) },
      error,
    );
  }

  if (isStoreUnavailable(error)) {
    return new ApiError(
      503,
      [{ error_type: 'database', error_message: 'the database is unavailable; retry the request later', error_point: null }],
      { 'Retry-After': String(STORE_RETRY_AFTER_SECONDS) },
      error,
    );
  }

  // Other errors that Fastify marks as the client's (for example an aborted upload) keep their status.
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new ApiError(status, [entry('request could not be processed')]);
  }
  const message = `internal error; quote request id ${requestId} when reporting it`;
  return new ApiError(500, [{ error_type: 'backend', error_message: message, error_point: null }], {}, error);
}

function entry(message: string): ErrorEntry {
  return { error_type: 'validation', error_message: message, error_point: null };
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError): void {
  // 4xx are the client's mistakes and logged at info; a 5xx is ours, logged with its cause. Messages are
  // left out because they may quote what the client sent, such as an email address.
  if (error.status === 503) {
    request.log.warn({ err: error.cause ?? error }, unavailableMessage(error.cause));
  } else if (error.status >= 500) {
    request.log.error({ err: error.cause ?? error }, 'request failed');
  } else {
    const errors = error.entries.map((entry) => ({ type: entry.error_type, point: loggablePoint(entry.error_point) }));
    request.log.info({ statusCode: error.status, errors }, 'request rejected');
  }

  // Errors Fastify raises before routing (a malformed URL) skip the hooks, so the id is set here too.
  reply.header('X-REQUEST-ID', request.id);
  reply.code(error.status).headers(error.headers).type('application/json; charset=utf-8');
  if (error.status === 401 && fromPageScript(request)) reply.header('WWW-Authenticate', `Session realm="${REALM}"`);
  reply.send(error.entries);
}

/**
 * Returns whether a request declares that a page's script sent it (`X-Requested-With: XMLHttpRequest`). A
 * browser answers a 401 with a Basic or Digest challenge by asking for a password in a dialog of its own,
 * even for a script's request, so such requests get a challenge of a scheme browsers do not prompt for.
 */
function fromPageScript(request: FastifyRequest): boolean {
  const value = request.headers['x-requested-with'];
  return typeof value === 'string' && value.toLowerCase() === 'xmlhttprequest';
}

function unavailableMessage(cause: unknown): string {
  if (cause instanceof HashQueueFullError) return 'password check shed because the hash queue is full';
  if (cause instanceof MetricsUnavailableError) return 'metrics of every worker unavailable';
  return 'store unavailable';
}

function loggablePoint(point: string | null): string | null {
  return point === null || /^[A-Za-z0-9_.]{1,64}$/.test(point) ? point : '(other)';
}

function pathOf(url: string): string {
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}
