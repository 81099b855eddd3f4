import '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import type { IssuedSession } from '../sessions/session-service.js';

export const SESSION_COOKIE = 'sessionid';
export const CSRF_COOKIE = 'csrftoken';
export const CSRF_HEADER = 'x-csrftoken';

/** Names of the two session cookies, and whether they are always Secure. */
export interface SessionCookieNames {
  session: string;
  csrf: string;
  /** True with the `__Host-` prefix, which browsers accept only on Secure cookies. */
  alwaysSecure: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    sessionCookieNames: SessionCookieNames;
  }
}

/**
 * Chooses the session cookie names for every route of `app`. With `hostPrefix` they are `__Host-sessionid`
 * and `__Host-csrftoken`: a browser then keeps them only if they are Secure, have `Path=/` and no `Domain`,
 * so no subdomain and no plain-HTTP page can set or overwrite them.
 */
export function registerSessionCookies(app: FastifyInstance, hostPrefix: boolean): void {
  const prefix = hostPrefix ? '__Host-' : '';
  app.decorate('sessionCookieNames', { session: `${prefix}${SESSION_COOKIE}`, csrf: `${prefix}${CSRF_COOKIE}`, alwaysSecure: hostPrefix });
}

/** Returns the session cookie names in use for `request`. */
export function cookieNamesOf(request: FastifyRequest): SessionCookieNames {
  return request.server.sessionCookieNames;
}

// One year less a day, as Django and CloudSigma send it: the token lives as long as its session anyway.
const CSRF_COOKIE_MAX_AGE = 31449600;

/** Sets the cookies of a new session: the id for the server, the CSRF token for scripts to echo back. */
export function setSessionCookies(request: FastifyRequest, reply: FastifyReply, session: IssuedSession, sessionTtlSeconds: number): void {
  const names = cookieNamesOf(request);
  const secure = names.alwaysSecure || request.protocol === 'https';

  reply.setCookie(names.session, session.sessionId, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    maxAge: sessionTtlSeconds,
    secure,
  });
  // Not HttpOnly: the page's script reads it to send the X-CSRFToken header.
  reply.setCookie(names.csrf, session.csrfToken, {
    httpOnly: false,
    sameSite: 'lax',
    path: '/',
    maxAge: CSRF_COOKIE_MAX_AGE,
    secure,
  });
}

/** Expires both session cookies in the browser. */
export function clearSessionCookies(request: FastifyRequest, reply: FastifyReply): void {
  const names = cookieNamesOf(request);
  const secure = names.alwaysSecure || request.protocol === 'https';

  reply.setCookie(names.session, '', { httpOnly: true, sameSite: 'lax', path: '/', maxAge: 0, secure });
  reply.setCookie(names.csrf, '', { httpOnly: false, sameSite: 'lax', path: '/', maxAge: 0, secure });
}

export function sessionIdOf(request: FastifyRequest): string | null {
  const value = request.cookies[cookieNamesOf(request).session];
  return value ? value : null;
}
