import { ASYNC_AUTH_COOKIE } from '../sessions/async-auth.js';
import type { Access, Credential } from './operation-docs.js';

/** A Security Requirement Object: scheme names that a request must satisfy together. */
export type SecurityRequirement = Record<string, string[]>;

/** The server settings that the security schemes depend on. */
export interface SecuritySettings {
  /** Whether DIGEST_AUTH is on; without it Digest is left out of the document. */
  digestAuth: boolean;
  /** Names of the session and CSRF cookies, which COOKIE_HOST_PREFIX prefixes with `__Host-`. */
  sessionCookie: string;
  csrfCookie: string;
}

const CSRF_SCHEME = 'csrf';

/** Returns the Security Scheme Objects of every credential the server accepts with these settings. */
export function securitySchemes(settings: SecuritySettings): Record<string, object> {
  const schemes: Record<Credential | typeof CSRF_SCHEME, object | null> = {
    basic: {
      type: 'http',
      scheme: 'basic',
      description:
        'HTTP Basic (RFC 7617) with the email address and password, in UTF-8; the password may contain ":". ' +
        'On an account with two-factor authentication on, the current code goes in the OTP header.',
    },
    digest: settings.digestAuth
      ? {
          type: 'http',
          scheme: 'digest',
          description: 'HTTP Digest (RFC 7616) with qop=auth and MD5 or SHA-256, on accounts that logged in or set their password while Digest was on.',
        }
      : null,
    bearer: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'sat_...',
      description: 'An API token from POST /api/2.0/accounts/tokens/. A read-only token gets 403 on any method but GET, HEAD and OPTIONS.',
    },
    session: {
      type: 'apiKey',
      in: 'cookie',
      name: settings.sessionCookie,
      description: `The session cookie that login and confirm set. An unsafe request also needs the ${CSRF_SCHEME} scheme.`,
    },
    [CSRF_SCHEME]: {
      type: 'apiKey',
      in: 'header',
      name: 'X-CSRFToken',
      description:
        `The value of the ${settings.csrfCookie} cookie, which a request authenticated by the session cookie sends with POST, PUT, PATCH and DELETE. ` +
        'Over HTTPS such a request also needs an Origin or Referer of the same site.',
    },
    asyncAuth: {
      type: 'apiKey',
      in: 'cookie',
      name: ASYNC_AUTH_COOKIE,
      description: 'The short-lived cookie that authenticate_asynchronous sets, for a companion service to check with check_login_with_return_uuid.',
    },
    metricsToken: {
      type: 'http',
      scheme: 'bearer',
      description: 'The token that METRICS_TOKEN sets.',
    },
  };

  return Object.fromEntries(Object.entries(schemes).filter((entry): entry is [string, object] => entry[1] !== null));
}

/**
 * Returns the security requirements of an operation: any one of them admits a request. A session needs the
 * CSRF header too when the method is unsafe and the access requires it.
 */
export function securityOf(access: Access, method: string, settings: SecuritySettings): SecurityRequirement[] {
  const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(method);
  const requirements: SecurityRequirement[] = [];

  if (access.credentials.length === 0 || access.optional === true) requirements.push({});
  for (const credential of access.credentials) {
    if (credential === 'digest' && !settings.digestAuth) continue;

    if (credential === 'session' && access.csrf && unsafe) requirements.push({ session: [], [CSRF_SCHEME]: [] });
    else requirements.push({ [credential]: [] });
  }
  return requirements;
}
