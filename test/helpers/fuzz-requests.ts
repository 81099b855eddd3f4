import fc from 'fast-check';

import { actionBodies, type ActionBody, anyBody, type BodySpec, bodyBytes, bodyOf, profileBody } from './fuzz-bodies.js';
import { anyText, emailValue, FixtureRef, headerText, passwordValue, ref, secretShaped, type Text, tokenValue } from './fuzz-values.js';
import type { RawRequest } from './raw-http.js';

export type AuthSpec =
  | { scheme: 'basic'; username: Text; password: Text }
  | {
      scheme: 'digest';
      username: Text;
      realm: string;
      nonce: Text;
      /** `target` sends the request's own target, as a real client does. */
      uri: 'target' | string;
      response: string;
      qop: string | undefined;
      nc: string | undefined;
      cnonce: string | undefined;
      algorithm: string | undefined;
      quoted: boolean;
    }
  | { scheme: 'raw'; value: string };

export type PathVariant =
  | 'as-is'
  | 'no-trailing-slash'
  | 'double-slash'
  | 'upper-case'
  | 'dot-segment'
  | 'encoded-slash'
  | 'extra-segment'
  | 'semicolon';

/** One generated request, as plain data with fixture references. */
export interface RequestSpec {
  /** The endpoint the request was generated for, such as `POST /api/2.0/accounts/action/?do=login`. */
  route: string;
  method: string;
  /** Literal path pieces and fixture values, which are percent-encoded when filled in. */
  path: Text[];
  pathVariant: PathVariant;
  query: Array<[string, Text]>;
  /** Appended to the query string without encoding. */
  rawQuery: string;
  contentType: string | undefined;
  accept: string | undefined;
  acceptEncoding: string | undefined;
  authorization: AuthSpec | undefined;
  cookie: { sessionid?: Text; csrftoken?: Text; raw?: string } | undefined;
  csrfToken: Text | undefined;
  origin: string | undefined;
  extraHeaders: Array<[string, string]>;
  body: BodySpec;
}

/** Builds a spec by hand, for a recorded counterexample: no headers, query or body unless given. */
export function requestSpec(fields: Pick<RequestSpec, 'route' | 'method' | 'path'> & Partial<RequestSpec>): RequestSpec {
  return {
    pathVariant: 'as-is',
    query: [],
    rawQuery: '',
    contentType: undefined,
    accept: undefined,
    acceptEncoding: undefined,
    authorization: undefined,
    cookie: undefined,
    csrfToken: undefined,
    origin: undefined,
    extraHeaders: [],
    body: { kind: 'none' },
    ...fields,
  };
}

/** The actions and limits of the server under test, read from it at start. */
export interface FuzzSurface {
  accountActions: string[];
  sessionActions: string[];
  bodyLimitBytes: number;
}

function method(primary: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 16, arbitrary: fc.constantFrom(...primary) },
    { weight: 2, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS') },
    { weight: 1, arbitrary: fc.constantFrom('PROPFIND', 'SEARCH', 'PURGE', 'LOCK', 'MKCOL') },
  );
}

/** The part of a request that depends on its endpoint. */
type Target = Pick<RequestSpec, 'route' | 'method' | 'path' | 'query' | 'body'>;

function extraQuery(): fc.Arbitrary<Array<[string, Text]>> {
  const format = fc.tuple(fc.constant('format'), fc.oneof(fc.constantFrom('json', 'xml', 'XML', 'yaml', ''), headerText(8)));
  const other = fc.tuple(fc.oneof(headerText(8), fc.constantFrom('__proto__', 'limit', 'offset', 'token', 'do')), headerText(16));
  return fc.oneof(
    { weight: 16, arbitrary: fc.constant<Array<[string, Text]>>([]) },
    { weight: 1, arbitrary: fc.array(format, { minLength: 1, maxLength: 2 }) },
    { weight: 1, arbitrary: fc.array(other, { minLength: 1, maxLength: 3 }) },
  );
}

function actionTarget(resource: string, names: string[], bodies: Record<string, ActionBody>): fc.Arbitrary<Target> {
  const generic: ActionBody = { fields: {}, required: [] };
  const choices = names.map((name) => fc.record({ name: fc.constant(name), body: bodyOf(bodies[name] ?? generic) }));

  const doValue = fc.oneof(
    { weight: 12, arbitrary: fc.constant('chosen') },
    { weight: 1, arbitrary: fc.constant('missing') },
    { weight: 1, arbitrary: fc.constant('upper-case') },
    { weight: 1, arbitrary: fc.constant('repeated') },
    { weight: 1, arbitrary: headerText(20) },
  );

  return fc
    .tuple(method(['POST']), fc.oneof(...choices), doValue, extraQuery())
    .map(([verb, { name, body }, how, extra]) => {
      const query: Array<[string, Text]> = [];
      if (how === 'chosen') query.push(['do', name]);
      else if (how === 'upper-case') query.push(['do', name.toUpperCase()]);
      else if (how === 'repeated') query.push(['do', name], ['do', names[0] ?? name]);
      else if (how !== 'missing') query.push(['do', how]);
      const route = `POST ${resource}action/?do=${how === 'chosen' ? name : '(other)'}`;
      return { route, method: verb, path: [`${resource}action/`], query: [...query, ...extra], body };
    });
}

function pageTarget(path: string, token: 'token.confirm' | 'token.reset' | 'token.email'): fc.Arbitrary<Target> {
  const tokenQuery = fc.oneof(
    { weight: 6, arbitrary: tokenValue(token).map((value): Array<[string, Text]> => [['token', value as Text]]) },
    { weight: 1, arbitrary: fc.constant<Array<[string, Text]>>([]) },
    { weight: 1, arbitrary: fc.tuple(ref(token), secretShaped()).map(([first, second]): Array<[string, Text]> => [['token', first], ['token', second]]) },
  );
  return fc
    .tuple(method(['GET']), tokenQuery, extraQuery(), fc.oneof({ weight: 6, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) }, { weight: 1, arbitrary: anyBody() }))
    .map(([verb, query, extra, body]) => ({ route: `GET ${path}`, method: verb, path: [path], query: [...query, ...extra], body }));
}

function plainTarget(paths: string[], methods: string[], body: fc.Arbitrary<BodySpec>): fc.Arbitrary<Target> {
  return fc
    .tuple(method(methods), fc.constantFrom(...paths), extraQuery(), body)
    .map(([verb, path, query, requestBody]) => ({ route: `${methods.join('|')} ${path}`, method: verb, path: [path], query, body: requestBody }));
}

/** Generates GETs of a CloudSigma list resource, with `limit` and `offset` of every kind. */
function listTarget(path: string): fc.Arbitrary<Target> {
  const number = fc.oneof(fc.nat({ max: 200 }).map(String), fc.constantFrom('-1', '0', '100', '101', '1.5', 'abc', '', '99999999999', '2147483648'));
  const paging = fc.array(fc.tuple(fc.constantFrom('limit', 'offset'), number), { maxLength: 3 });
  return fc
    .tuple(method(['GET']), paging, extraQuery(), fc.oneof({ weight: 6, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) }, { weight: 1, arbitrary: anyBody() }))
    .map(([verb, pages, extra, body]) => ({ route: `GET ${path}`, method: verb, path: [path], query: [...pages, ...extra], body }));
}

function sessionItemTarget(): fc.Arbitrary<Target> {
  const id = fc.oneof(
    { weight: 3, arbitrary: ref('alice.publicId', ['exact', 'exact', 'upper', 'flipped']) },
    { weight: 1, arbitrary: ref('bob.publicId') },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: anyText(20).map((text) => encodeURIComponent(text.toWellFormed())) },
  );
  return fc
    .tuple(method(['DELETE']), id, extraQuery(), fc.oneof({ weight: 4, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) }, { weight: 1, arbitrary: anyBody() }))
    .map(([verb, sessionId, query, body]) => ({
      route: 'DELETE /api/2.0/accounts/sessions/{id}/',
      method: verb,
      path: ['/api/2.0/accounts/sessions/', sessionId, '/'],
      query,
      body,
    }));
}

function unknownPathTarget(): fc.Arbitrary<Target> {
  const path = fc.oneof(
    fc.constantFrom('/', '/api/', '/api/2.0/', '/api/2.0/accounts/', '/api/2.0/accounts/action/x/', '/api/2.0/profile/schema/x/', '/%', '/api/2.0/%zz/', '/api/2.0/accounts/action/%2e%2e/', '/health/', '/accounts/'),
    fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)),
    fc.webPath().map((path) => `/api/2.0/${path.replace(/^\//, '')}`),
  );
  return fc
    .tuple(method(['GET', 'POST']), path, extraQuery(), anyBody())
    .map(([verb, target, query, body]) => ({ route: '(unknown path)', method: verb, path: [target], query, body }));
}

/** Generates requests to every endpoint, weighted towards the account actions, which contain most of the logic. */
function targetArbitrary(surface: FuzzSurface): fc.Arbitrary<Target> {
  const bodies = actionBodies();
  const noBody = fc.oneof({ weight: 6, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) }, { weight: 1, arbitrary: anyBody() });

  return fc.oneof(
    { weight: 12, arbitrary: actionTarget('/api/2.0/accounts/', surface.accountActions, bodies) },
    { weight: 1, arbitrary: actionTarget('/api/2.0/accounts/sessions/', surface.sessionActions, bodies) },
    { weight: 1, arbitrary: listTarget('/api/2.0/accounts/sessions/') },
    { weight: 2, arbitrary: sessionItemTarget() },
    { weight: 1, arbitrary: plainTarget(['/api/2.0/profile/'], ['GET'], noBody) },
    { weight: 2, arbitrary: plainTarget(['/api/2.0/profile/'], ['PUT'], bodyOf(profileBody())) },
    { weight: 1, arbitrary: plainTarget(['/api/2.0/profile/schema/', '/api/2.0/logs/schema/'], ['GET'], noBody) },
    { weight: 1, arbitrary: listTarget('/api/2.0/logs/') },
    { weight: 1, arbitrary: pageTarget('/accounts/confirm/', 'token.confirm') },
    { weight: 1, arbitrary: pageTarget('/accounts/reset/', 'token.reset') },
    { weight: 1, arbitrary: pageTarget('/accounts/email/', 'token.email') },
    { weight: 1, arbitrary: plainTarget(['/health/live', '/health/ready', '/accounts/assets/page.css', '/accounts/assets/form.js'], ['GET'], noBody) },
    { weight: 1, arbitrary: unknownPathTarget() },
  );
}

/** The credentials of a request: none, a session (with a right or wrong CSRF token), Basic, Digest or junk. */
type Caller = Pick<RequestSpec, 'authorization' | 'cookie' | 'csrfToken'>;

function sessionCaller(owner: 'alice' | 'bob'): fc.Arbitrary<Caller> {
  const other = owner === 'alice' ? 'bob' : 'alice';
  const csrf = fc.oneof(
    { weight: 5, arbitrary: ref(`${owner}.csrftoken`) },
    { weight: 1, arbitrary: ref(`${other}.csrftoken`) },
    { weight: 1, arbitrary: ref(`${owner}.csrftoken`, ['flipped', 'truncated', 'padded']) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: headerText(50) },
  );
  const sessionId = fc.oneof({ weight: 6, arbitrary: ref(`${owner}.sessionid`) }, { weight: 1, arbitrary: ref(`${owner}.sessionid`, ['flipped', 'upper', 'truncated']) });
  const csrfCookie = fc.oneof({ weight: 3, arbitrary: ref(`${owner}.csrftoken`) }, { weight: 1, arbitrary: fc.constant(undefined) });

  return fc.record({ sessionid: sessionId, csrftoken: csrfCookie, csrf }).map(({ sessionid, csrftoken, csrf: token }) => ({
    authorization: undefined,
    cookie: csrftoken === undefined ? { sessionid } : { sessionid, csrftoken },
    csrfToken: token,
  }));
}

function basicCaller(): fc.Arbitrary<Caller> {
  return fc.record({ username: emailValue(), password: passwordValue() }).map(({ username, password }) => ({
    authorization: { scheme: 'basic' as const, username: username as Text, password: password as Text },
    cookie: undefined,
    csrfToken: undefined,
  }));
}

function digestCaller(): fc.Arbitrary<Caller> {
  const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
  const optional = (value: fc.Arbitrary<string>) => fc.oneof({ weight: 4, arbitrary: value }, { weight: 1, arbitrary: fc.constant(undefined) });

  return fc
    .record({
      username: fc.oneof(ref('alice.email'), ref('unknown.email'), headerText(20)),
      realm: fc.oneof({ weight: 4, arbitrary: fc.constant('sigma-accounts') }, { weight: 1, arbitrary: headerText(20) }),
      nonce: fc.oneof({ weight: 4, arbitrary: ref('digest.nonce', ['exact', 'exact', 'flipped', 'truncated']) }, { weight: 1, arbitrary: headerText(40) }),
      uri: fc.oneof({ weight: 4, arbitrary: fc.constant('target') }, { weight: 1, arbitrary: headerText(30) }),
      response: fc.oneof(hex(32), hex(64), headerText(40)),
      qop: optional(fc.oneof({ weight: 4, arbitrary: fc.constant('auth') }, { weight: 1, arbitrary: fc.constantFrom('auth-int', 'AUTH', '') })),
      nc: optional(fc.oneof({ weight: 4, arbitrary: hex(8) }, { weight: 1, arbitrary: fc.constantFrom('ffffffff', '0', '1', 'zzzzzzzz') })),
      cnonce: optional(headerText(20)),
      algorithm: optional(fc.constantFrom('MD5', 'SHA-256', 'md5', 'MD5-sess', 'SHA-512-256', '')),
      quoted: fc.boolean(),
    })
    .map((params) => ({ authorization: { scheme: 'digest' as const, ...params }, cookie: undefined, csrfToken: undefined }));
}

function junkCaller(): fc.Arbitrary<Caller> {
  const authorization = fc.oneof(
    fc.constantFrom('Basic', 'Basic ', 'Basic !!!!', 'Basic Og==', 'Basic YWxpY2U=', 'Bearer', 'Digest', 'Digest username="a', 'Digest ,,,', 'basic   YTpi  ', 'Negotiate abc'),
    fc.tuple(fc.constantFrom('Basic ', 'Bearer ', 'Digest ', 'Token ', ''), headerText(60)).map(([scheme, rest]) => scheme + rest),
    fc.base64String({ maxLength: 60 }).map((encoded) => `Basic ${encoded}`),
  );
  const cookie = fc.oneof(
    fc.constant(undefined),
    fc.record({ raw: headerText(80) }),
    fc.record({ sessionid: secretShaped(), csrftoken: secretShaped() }),
    fc.record({ sessionid: headerText(50) }),
    fc.constant({ raw: 'sessionid=%E0%A4%A; csrftoken=%zz' }),
  );
  return fc.record({
    authorization: fc.option(authorization.map((value): AuthSpec => ({ scheme: 'raw', value })), { nil: undefined }),
    cookie,
    csrfToken: fc.option(headerText(50), { nil: undefined }),
  });
}

function callerArbitrary(): fc.Arbitrary<Caller> {
  const anonymous: Caller = { authorization: undefined, cookie: undefined, csrfToken: undefined };
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(anonymous) },
    { weight: 4, arbitrary: sessionCaller('alice') },
    { weight: 1, arbitrary: sessionCaller('bob') },
    { weight: 3, arbitrary: basicCaller() },
    { weight: 1, arbitrary: digestCaller() },
    { weight: 2, arbitrary: junkCaller() },
    // Credentials in a header and a session cookie at once.
    { weight: 1, arbitrary: fc.tuple(basicCaller(), sessionCaller('bob')).map(([basic, session]) => ({ ...session, authorization: basic.authorization })) },
  );
}

const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'host', 'connection', 'expect', 'upgrade', 'te', 'trailer', 'keep-alive']);

function extraHeaders(): fc.Arbitrary<Array<[string, string]>> {
  const name = fc.oneof(
    fc.constantFrom('X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Forwarded', 'X-Real-IP', 'User-Agent', 'Referer', 'OTP', 'X-HTTP-Method-Override', 'If-None-Match', 'Range', 'X-Request-Id'),
    fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((candidate) => !RESERVED_HEADERS.has(candidate.toLowerCase())),
  );
  return fc.oneof({ weight: 4, arbitrary: fc.constant<Array<[string, string]>>([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(name, headerText(60)), { minLength: 1, maxLength: 3 }) });
}

function maybe(common: string[], weirdness: fc.Arbitrary<string>, absentWeight: number): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: absentWeight, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.constantFrom(...common) },
    { weight: 1, arbitrary: weirdness },
  );
}

/** Random and mutated requests to every endpoint of the server. */
export function requestArbitrary(surface: FuzzSurface): fc.Arbitrary<RequestSpec> {
  const contentType = fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('application/json;charset="UTF-8"', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'APPLICATION/JSON'),
    },
    { weight: 1, arbitrary: headerText(40) },
  );
  const accept = fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.constantFrom('application/json', 'application/json', 'application/xml', 'text/xml', '*/*', 'application/*') },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('text/html', 'application/json;q=0', 'image/png'), headerText(40)) },
  );
  const acceptEncoding = maybe(['gzip', 'gzip, deflate, br', 'identity;q=0, *;q=0', '*', 'br'], headerText(20), 6);
  const origin = maybe(['http://127.0.0.1', 'https://evil.example', 'null'], headerText(30), 8);
  const pathVariant = fc.oneof(
    { weight: 40, arbitrary: fc.constant<PathVariant>('as-is') },
    { weight: 1, arbitrary: fc.constantFrom<PathVariant>('no-trailing-slash', 'double-slash', 'upper-case', 'dot-segment', 'encoded-slash', 'extra-segment', 'semicolon') },
  );
  const rawQuery = fc.oneof(
    { weight: 30, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%ff', '%E0%A4%A', '%00', 'do[]=login', 'do[x]=1', '__proto__[x]=1', 'constructor[prototype][x]=1', '&&&', '=', 'do') },
    { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 30 }) },
  );

  return fc
    .record({
      target: targetArbitrary(surface),
      caller: callerArbitrary(),
      pathVariant,
      rawQuery,
      contentType,
      accept,
      acceptEncoding,
      origin,
      extraHeaders: extraHeaders(),
    })
    .map(({ target, caller, ...rest }) => ({ ...target, ...caller, ...rest }));
}

/** Fills in fixture values and serialises a request spec into the bytes that go on the wire. */
export function materialize(spec: RequestSpec, resolve: (value: FixtureRef) => string, bodyLimitBytes: number): RawRequest {
  const text = (value: Text) => (value instanceof FixtureRef ? resolve(value) : value);
  const encode = (value: string) => encodeURIComponent(value.toWellFormed());

  const path = applyPathVariant(spec.path.map((part) => (part instanceof FixtureRef ? encode(resolve(part)) : part)).join(''), spec.pathVariant);
  const query = spec.query.map(([key, value]) => `${encode(key)}=${encode(text(value))}`);
  if (spec.rawQuery !== '') query.push(spec.rawQuery);
  const target = query.length > 0 ? `${path}?${query.join('&')}` : path;

  const headers: Record<string, string> = {};
  for (const [name, value] of spec.extraHeaders) headers[name.toLowerCase()] = value;
  if (spec.contentType !== undefined) headers['content-type'] = spec.contentType;
  if (spec.accept !== undefined) headers.accept = spec.accept;
  if (spec.acceptEncoding !== undefined) headers['accept-encoding'] = spec.acceptEncoding;
  if (spec.origin !== undefined) headers.origin = spec.origin;
  if (spec.csrfToken !== undefined) headers['x-csrftoken'] = text(spec.csrfToken);
  if (spec.authorization !== undefined) headers.authorization = authorizationHeader(spec.authorization, text, target);
  if (spec.cookie !== undefined) {
    const pairs: string[] = [];
    if (spec.cookie.sessionid !== undefined) pairs.push(`sessionid=${text(spec.cookie.sessionid)}`);
    if (spec.cookie.csrftoken !== undefined) pairs.push(`csrftoken=${text(spec.cookie.csrftoken)}`);
    if (spec.cookie.raw !== undefined) pairs.push(spec.cookie.raw);
    headers.cookie = pairs.join('; ');
  }

  return { method: spec.method, target, headers, body: bodyBytes(spec.body, resolve, bodyLimitBytes) };
}

function applyPathVariant(path: string, variant: PathVariant): string {
  switch (variant) {
    case 'as-is':
      return path;
    case 'no-trailing-slash':
      return path.replace(/\/$/, '');
    case 'double-slash':
      return path.replace(/\//g, '//');
    case 'upper-case':
      return path.toUpperCase();
    case 'dot-segment':
      return `${path}../${path.split('/').filter(Boolean).at(-1) ?? ''}/`;
    case 'encoded-slash':
      return path.replace(/\/(?=.)/g, '%2F').replace(/^%2F/, '/');
    case 'extra-segment':
      return `${path}extra/`;
    case 'semicolon':
      return `${path};jsessionid=1`;
  }
}

function authorizationHeader(auth: AuthSpec, text: (value: Text) => string, target: string): string {
  switch (auth.scheme) {
    case 'raw':
      return auth.value;
    case 'basic':
      return `Basic ${Buffer.from(`${text(auth.username)}:${text(auth.password)}`, 'utf8').toString('base64')}`;
    case 'digest': {
      const params: Array<[string, string | undefined]> = [
        ['username', text(auth.username)],
        ['realm', auth.realm],
        ['nonce', text(auth.nonce)],
        ['uri', auth.uri === 'target' ? target : auth.uri],
        ['response', auth.response],
        ['qop', auth.qop],
        ['nc', auth.nc],
        ['cnonce', auth.cnonce],
        ['algorithm', auth.algorithm],
      ];
      const rendered = params
        .filter((param): param is [string, string] => param[1] !== undefined)
        .map(([name, value]) => (auth.quoted ? `${name}="${value}"` : `${name}=${value}`));
      return `Digest ${rendered.join(', ')}`;
    }
  }
}
