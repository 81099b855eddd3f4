import type { FastifyInstance } from 'fastify';

import { ApiError } from './api-error.js';

/**
 * Largest request line plus headers, in bytes, that Node's HTTP parser accepts (its `maxHeaderSize`, whose
 * default is the same 16 KiB). A larger head gets 431 before Fastify receives the request.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Maximum length of the request target (path and query string), in bytes; a longer one gets 414. It must stay
 * below MAX_HEADER_BYTES, which counts the request line too.
 */
export const MAX_URL_BYTES = 8 * 1024;

/**
 * How often Node checks open connections against HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS, in milliseconds.
 * Node's default of 30 s would let a slow client keep a connection up to 30 s past its timeout.
 */
export const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** Rejects a request whose target is longer than MAX_URL_BYTES with 414, before any route runs. */
export function registerUrlLimit(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    // Node decodes the request target as Latin-1, one character per byte, so the length is in bytes.
    if ((request.raw.url ?? '').length > MAX_URL_BYTES) {
      throw new ApiError(414, [
        { error_type: 'validation', error_message: `request URL is longer than the limit of ${MAX_URL_BYTES} bytes`, error_point: null },
      ]);
    }
  });
}
