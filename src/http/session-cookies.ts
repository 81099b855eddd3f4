import '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';

import type { IssuedSession } from '../sessions/session-service.js';

export const SESSION_COOKIE = 'sessionid';
export const CSRF_COOKIE = 'csrftoken';
export const CSRF_HEADER = 'x-csrftoken';

// One year less a day, as Django and CloudSigma send it: the token lives as long as its session anyway.
const CSRF_COOKIE_MAX_AGE = 31449600;

/** Sets the cookies of a new session: the id for the server, the CSRF token for scripts to echo back. */
export function setSessionCookies(request: FastifyRequest, reply: FastifyReply, session: IssuedSession, sessionTtlSeconds: number): void {
  const secure = request.protocol === 'https';

  reply.setCookie(SESSION_COOKIE, session.sessionId, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    maxAge: sessionTtlSeconds,
    secure,
  });
  // Not HttpOnly: the page's script reads it to send the X-CSRFToken header.
  reply.setCookie(CSRF_COOKIE, session.csrfToken, {
    httpOnly: false,
    sameSite: 'lax',
    path: '/',
    maxAge: CSRF_COOKIE_MAX_AGE,
    secure,
  });
}

/** Expires both session cookies in the browser. */
export function clearSessionCookies(request: FastifyRequest, reply: FastifyReply): void {
  const secure = request.protocol === 'https';

  reply.setCookie(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'lax', path: '/', maxAge: 0, secure });
  reply.setCookie(CSRF_COOKIE, '', { httpOnly: false, sameSite: 'lax', path: '/', maxAge: 0, secure });
}

export function sessionIdOf(request: FastifyRequest): string | null {
  const value = request.cookies[SESSION_COOKIE];
  return value ? value : null;
}
