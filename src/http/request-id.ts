import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { trustedPeerCheck } from './trusted-proxies.js';

// One token of RFC 9110 (section 5.6.2): printable ASCII without spaces, quotes, commas and other
// delimiters, so the id is safe in a header, a log line and an error message. A repeated header arrives
// joined by ", " and so never matches.
const REQUEST_ID = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

/**
 * Returns the function that picks each request's id (Fastify's genReqId). A request whose immediate peer is a
 * trusted proxy keeps the id in its X-Request-ID header when that is one token of at most 128 characters, so
 * that the proxy's logs and these match. Every other request gets a random UUID. Other clients could pick ids
 * that collide with other requests' ids in the logs, so their header is ignored.
 */
export function requestIdGenerator(trustedProxies: readonly string[] | false): (raw: IncomingMessage) => string {
  if (trustedProxies === false) return () => randomUUID();

  const trusted = trustedPeerCheck(trustedProxies);
  return (raw) => {
    const header = raw.headers['x-request-id'];
    if (typeof header === 'string' && REQUEST_ID.test(header) && trusted(raw.socket.remoteAddress)) return header;
    return randomUUID();
  };
}
