import type { FastifyRequest } from 'fastify';

import { constantTimeEqual } from '../crypto-tokens.js';
import type { SessionService } from '../sessions/session-service.js';
import { permissionError } from './api-error.js';
import type { Caller } from './authentication.js';
import { cookieNamesOf, CSRF_HEADER } from './session-cookies.js';

// Django-style CSRF (a token bound to the session, echoed in a header) is small and tied to our sessions,
// and the Fastify CSRF plugins use other token schemes, so it is written here.

/**
 * Rejects with 403 an unsafe request that a session cookie authenticated unless it echoes the session's
 * CSRF token in `X-CSRFToken`. Over HTTPS it must also come from an allowed origin (`Origin`, or the origin
 * of `Referer`). Callers who sent an `Authorization` header carry no ambient authority and pass.
 */
export function assertCsrf(request: FastifyRequest, caller: Caller, sessions: SessionService, publicUrl: string): void {
  if (caller.via !== 'session') return;

  const header = request.headers[CSRF_HEADER];
  const token = typeof header === 'string' ? header : '';
  if (token === '') {
    throw permissionError(`CSRF check failed: send the ${cookieNamesOf(request).csrf} cookie value in the X-CSRFToken header`);
  }
  if (!sessions.csrfMatches(caller.session, token)) {
    throw permissionError('CSRF check failed: X-CSRFToken does not match this session; log in again for a new token');
  }

  if (request.protocol === 'https' && !fromAllowedOrigin(request, publicUrl)) {
    throw permissionError('CSRF check failed: over HTTPS the Origin or Referer header must name this site');
  }
}

function fromAllowedOrigin(request: FastifyRequest, publicUrl: string): boolean {
  const claimed = originOf(headerText(request, 'origin')) ?? originOf(headerText(request, 'referer'));
  if (!claimed) return false;

  // URL parsing normalises case and default ports, so the comparison is of scheme, host and port exactly.
  const allowed = [new URL(publicUrl).origin, originOf(`https://${request.host}`)];
  return allowed.some((origin) => origin !== null && constantTimeEqual(origin, claimed));
}

function headerText(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function originOf(value: string | undefined): string | null {
  if (!value || !URL.canParse(value)) return null;
  const origin = new URL(value).origin;
  return origin === 'null' ? null : origin;
}
