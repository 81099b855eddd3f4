import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';

import type { ErrorEntry } from './api-error.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

/**
 * Responds to a request that Node's HTTP parser rejected before Fastify saw it (oversized headers, a malformed
 * request line, a timeout) with a CloudSigma error list instead of Node's bare status line.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }

  const status = statusOf(error.code);
  const entry: ErrorEntry = { error_type: 'validation', error_message: messageOf(status), error_point: null };
  // A response to HEAD has no body (RFC 9110); the method is read from the bytes Node could not parse.
  const rawPacket = (error as { rawPacket?: unknown }).rawPacket;
  const head = Buffer.isBuffer(rawPacket) && rawPacket.toString('latin1', 0, 5).toUpperCase() === 'HEAD ';
  const body = head ? '' : JSON.stringify([entry]);

  socket.end(
    [
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${head ? Buffer.byteLength(JSON.stringify([entry])) : Buffer.byteLength(body)}`,
      `X-REQUEST-ID: ${randomUUID()}`,
      'Connection: close',
      '',
      body,
    ].join('\r\n'),
  );
}

function statusOf(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_URI_TOO_LONG':
      return 414;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

function messageOf(status: number): string {
  switch (status) {
    case 431:
      return 'request headers are larger than the server accepts';
    case 414:
      return 'request URL is longer than the server accepts';
    case 408:
      return 'request was not received in time';
    default:
      return 'request is not valid HTTP/1.1';
  }
}
