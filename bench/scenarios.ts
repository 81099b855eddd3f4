// The requests of each measured operation, built over a seeded store.
import type { LoadSpec } from './load.js';
import { type SeedManifest, seededEmail, seededSessionId } from './seed-rows.js';

/** The operations of the report, in its order. */
export const OPERATIONS = [
  'check_login',
  'check_login_with_return_uuid',
  'profile_session',
  'profile_basic',
  'login',
  'create',
  'check_login_during_storm',
  'login_storm',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const OPERATION_LABELS: Record<Operation | 'hello', string> = {
  hello: 'hello (bare Fastify)',
  check_login: '`check_login`, session',
  check_login_with_return_uuid: '`check_login_with_return_uuid`, session',
  profile_session: '`GET /api/2.0/profile/`, session',
  profile_basic: '`GET /api/2.0/profile/`, Basic',
  login: '`login`',
  create: '`create`',
  check_login_during_storm: '`check_login`, session, during a `login` storm',
  login_storm: '`login`, the storm beside it',
};

/** Seeded sessions that a run cycles through; on a large store they are spread over all of it. */
const SESSION_ROTATION = 1000;
/** Seeded accounts that Basic requests cycle through: about one per connection, so a cache would hit. */
const BASIC_ROTATION = 50;
/** Seeded accounts that `login` cycles through. */
const LOGIN_ROTATION = 1000;

const ACTIONS = '/api/2.0/accounts/action/';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Builds the load of every operation against one server. */
export class Scenarios {
  private readonly cookies: string[];
  private readonly basicHeaders: string[];
  private readonly runId = `${process.pid}-${Date.now().toString(36)}`;
  private created = 0;

  constructor(
    private readonly url: string,
    private readonly manifest: SeedManifest,
    private readonly connections: number,
    private readonly durationSeconds: number,
  ) {
    const rotation = Math.min(SESSION_ROTATION, manifest.sessions);
    const stride = Math.floor(manifest.sessions / rotation);
    this.cookies = Array.from({ length: rotation }, (_, index) => `sessionid=${seededSessionId(manifest.sessionKey, index * stride)}`);

    const basicCount = Math.min(BASIC_ROTATION, manifest.accounts);
    this.basicHeaders = Array.from({ length: basicCount }, (_, index) => basicAuthorization(seededEmail(index), manifest.password));
  }

  /** Returns the hello baseline, with the rotating cookie of the session checks, so that the client does the same work. */
  hello(helloUrl: string): LoadSpec {
    return { ...this.common(), url: helloUrl, method: 'GET', path: '/hello', requestFor: this.sessionCookie() };
  }

  spec(operation: Operation): LoadSpec {
    switch (operation) {
      case 'check_login':
      case 'check_login_during_storm':
        return this.sessionAction('check_login');
      case 'check_login_with_return_uuid':
        return this.sessionAction('check_login_with_return_uuid');
      case 'profile_session':
        return { ...this.common(), method: 'GET', path: '/api/2.0/profile/', requestFor: this.sessionCookie() };
      case 'profile_basic':
        return {
          ...this.common(),
          method: 'GET',
          path: '/api/2.0/profile/',
          requestFor: (sequence) => ({ headers: { Authorization: this.basicHeaders[sequence % this.basicHeaders.length] ?? '' } }),
        };
      case 'login':
      case 'login_storm':
        return this.login();
      case 'create':
        return this.create();
    }
  }

  private common(): Pick<LoadSpec, 'url' | 'connections' | 'durationSeconds'> {
    return { url: this.url, connections: this.connections, durationSeconds: this.durationSeconds };
  }

  private sessionCookie(): LoadSpec['requestFor'] {
    return (sequence) => ({ headers: { Cookie: this.cookies[sequence % this.cookies.length] ?? '' } });
  }

  private sessionAction(action: string): LoadSpec {
    return { ...this.common(), method: 'POST', path: `${ACTIONS}?do=${action}`, headers: JSON_HEADERS, body: '{}', requestFor: this.sessionCookie() };
  }

  /**
   * Signs up a new address with every request, numbered across every run of this object (warm-ups and
   * preflight requests included), so that no address repeats.
   *
   * NOTE: autocannon 8.0.0's idReplacement is not used: it sets Content-Length as if every id had 27
   * characters, but hyperid 3.3.0 makes ids of 24 and more, so the server waits for body bytes that never
   * come.
   */
  private create(): LoadSpec {
    return {
      ...this.common(),
      method: 'POST',
      path: `${ACTIONS}?do=create`,
      headers: JSON_HEADERS,
      requestFor: () => ({ body: JSON.stringify({ email: `new-${this.runId}-${(this.created += 1)}@example.com` }) }),
    };
  }

  private login(): LoadSpec {
    const accounts = Math.min(LOGIN_ROTATION, this.manifest.accounts);
    return {
      ...this.common(),
      method: 'POST',
      path: `${ACTIONS}?do=login`,
      headers: JSON_HEADERS,
      requestFor: (sequence) => ({ body: JSON.stringify({ username: seededEmail(sequence % accounts), password: this.manifest.password }) }),
    };
  }
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
