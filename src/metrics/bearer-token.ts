import { createHash, timingSafeEqual } from 'node:crypto';

// RFC 7235 makes the scheme name case-insensitive. The token is what follows the spaces.
const BEARER = /^Bearer +(\S+) *$/i;

/** The challenge of a 401 from either metrics endpoint. */
export const METRICS_CHALLENGE = 'Bearer realm="metrics"';

/** Checks `Authorization: Bearer TOKEN` headers against the one token that METRICS_TOKEN sets. */
export class BearerTokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = sha256(token);
  }

  /** Returns whether `authorization` carries the token. */
  accepts(authorization: string | undefined): boolean {
    const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (token === undefined) return false;

    // Digests have one length whatever was sent, so the comparison takes the same time for every guess and
    // reveals neither where a guess differs nor how long the token is.
    return timingSafeEqual(sha256(token), this.expected);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
