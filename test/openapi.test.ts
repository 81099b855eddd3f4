import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import Fastify from 'fastify';
import type { Browser } from 'playwright-core';

import { buildOpenApiDocument, openApiPath } from '../src/api-docs/openapi-document.js';
import { NO_CREDENTIALS } from '../src/api-docs/operation-docs.js';
import { type CatalogRoute, RouteCatalog } from '../src/api-docs/route-catalog.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { registerResource } from '../src/http/resource.js';
import { activeAccount, PASSWORD } from './helpers/accounts.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { action, type ApiResponse, errorList, errorPoints, request } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { REFERENCE_PAGE, REFERENCE_SETTINGS, renderApiReference } from '../scripts/api-reference.js';

const OPENAPI_URL = '/api/2.0/openapi.json';
const PUBLIC_URL = 'http://accounts.test:8080';
const METRICS_TOKEN = 'metrics-token-of-at-least-32-characters-0123';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

type Json = Record<string, unknown>;

// A type rather than an interface, so that it is assignable to the validator's Record<string, unknown>.
type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string; summary: string; description: string; license: { identifier: string } };
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json>; securitySchemes: Record<string, Json> };
};

interface Operation {
  parameters?: Json[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, Json>;
  security: Array<Record<string, string[]>>;
  'x-actions'?: Record<string, Operation>;
}

function get(url: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return request(url, { method: 'GET', headers });
}

async function fetchDocument(server: TestServer): Promise<OpenApiDocument> {
  const response = await get(`${server.url}${OPENAPI_URL}`);
  assert.equal(response.status, 200, response.text.slice(0, 300));
  return response.body as OpenApiDocument;
}

/**
 * Compares the routes Fastify registered with the paths of the document, both ways, and returns every
 * mismatch. HEAD must come with a documented GET, and OPTIONS and 405 routes with a documented path.
 */
function routeMismatches(routes: readonly CatalogRoute[], document: OpenApiDocument): string[] {
  const problems: string[] = [];
  const registered = new Set<string>();

  for (const route of routes) {
    const path = openApiPath(route.url);
    if (route.hidden) {
      if (!route.url.startsWith('/docs')) problems.push(`${route.methods.join(',')} ${route.url} is hidden from the document`);
      continue;
    }
    if (route.docs === undefined) {
      problems.push(`${route.methods.join(',')} ${route.url} has no documentation`);
      continue;
    }

    for (const method of route.methods) {
      registered.add(`${method} ${path}`);
      const item = document.paths[path];
      if ('generic' in route.docs) {
        if (!item) problems.push(`${method} ${route.url} belongs to a path missing from the document`);
        continue;
      }
      const documentedAs = method === 'HEAD' ? 'get' : method.toLowerCase();
      if (!item?.[documentedAs]) problems.push(`${method} ${route.url} is missing from the document`);
    }
  }

  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of Object.keys(item).filter((key) => HTTP_METHODS.includes(key))) {
      if (!registered.has(`${method.toUpperCase()} ${path}`)) problems.push(`${method.toUpperCase()} ${path} is documented but not registered`);
    }
  }
  return problems;
}

/** Returns the object that a `$ref` of the document points to. */
function resolve(document: OpenApiDocument, value: Json): Json {
  const ref = value.$ref;
  if (typeof ref !== 'string') return value;

  let target: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) target = (target as Json)[part];
  assert.ok(target, `${ref} resolves`);
  return target as Json;
}

function responseSchema(document: OpenApiDocument, operation: Operation, status: string): Json {
  const response = resolve(document, operation.responses[status] ?? {});
  const content = response.content as Record<string, { schema: Json }> | undefined;
  const schema = content?.['application/json']?.schema;
  assert.ok(schema, `response ${status} has a JSON schema`);
  return resolve(document, schema);
}

function actionOperation(document: OpenApiDocument, path: string, name: string): Operation {
  const operation = document.paths[path]?.post?.['x-actions']?.[name];
  assert.ok(operation, `x-actions of ${path} has ${name}`);
  return operation;
}

/** Checks `body` against a response schema of the document, formats aside. */
function assertMatches(schema: Json, body: unknown, label: string): void {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const validate = ajv.compile(schema);
  assert.ok(validate(body), `${label} matches its documented schema: ${JSON.stringify(validate.errors)} in ${JSON.stringify(body).slice(0, 500)}`);
}

describe('OpenAPI document', () => {
  let smtp: SmtpSink;
  let server: TestServer;
  let document: OpenApiDocument;

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start(), PUBLIC_URL });
    document = await fetchDocument(server);
  });

  after(async () => {
    await server.stop();
    await smtp.stop();
  });

  test('document validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));

    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
    assert.equal(validator.version, '3.1');
    assert.equal(document.openapi, '3.1.0');
  });

  test('info from package and PUBLIC_URL', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Json;

    assert.equal(document.info.title, manifest.name);
    assert.equal(document.info.version, manifest.version);
    assert.equal(document.info.summary, manifest.description);
    assert.equal(document.info.license.identifier, manifest.license);
    assert.match(document.info.description, /x-actions/, 'the description says how actions map');
    assert.deepEqual(document.servers.map((entry) => entry.url), [PUBLIC_URL]);
  });

  test('every registered route documented', () => {
    const routes = server.app.routeCatalog.routes;

    assert.ok(routes.length > 40, `the catalog holds the routes, ${routes.length} of them`);
    assert.deepEqual(routeMismatches(routes, document), []);
    assert.ok(document.paths['/api/2.0/profile/']?.get, 'GET profile is documented');
    assert.ok(document.paths['/api/2.0/accounts/sessions/{id}/']?.delete, 'path parameters are in OpenAPI form');
    assert.ok(document.paths[OPENAPI_URL]?.get, 'the document documents itself');
  });

  test('actions carry their validating schemas', () => {
    const actionRoutes = server.app.routeCatalog.routes.flatMap((route) => (route.docs && 'actions' in route.docs ? [{ route, docs: route.docs.actions }] : []));
    assert.deepEqual(actionRoutes.map(({ route }) => route.url).sort(), ['/api/2.0/accounts/action/', '/api/2.0/accounts/sessions/action/']);

    for (const { route, docs } of actionRoutes) {
      const operation = document.paths[route.url]?.post;
      assert.ok(operation, `${route.url} is documented`);
      const doParameter = operation.parameters?.find((parameter) => parameter.name === 'do') as { schema: { enum: string[] } } | undefined;
      assert.deepEqual(doParameter?.schema.enum, Object.keys(docs.actions).sort(), `do of ${route.url} lists every action`);

      for (const [name, { body }] of Object.entries(docs.actions)) {
        const documented = actionOperation(document, route.url, name);
        const schema = resolve(document, documented.requestBody?.content['application/json']?.schema ?? {});
        assert.deepEqual(schema, JSON.parse(JSON.stringify(body)), `${name} has the body schema the server validates with`);
        assert.equal(documented.requestBody?.required, (body.required ?? []).length > 0, `${name} requires a body when it requires a field`);
      }
    }
    assert.ok(document.components.schemas['accounts.login.request'], 'the login body is a named schema');
  });

  test('server rejects what schemas reject', async () => {
    for (const path of ['/api/2.0/accounts/action/', '/api/2.0/accounts/sessions/action/']) {
      for (const name of Object.keys(document.paths[path]?.post?.['x-actions'] ?? {})) {
        const url = `${server.url}${path}?do=${name}`;
        const schema = resolve(document, actionOperation(document, path, name).requestBody?.content['application/json']?.schema ?? {});
        const properties = Object.keys((schema.properties as Json | undefined) ?? {});
        const required = (schema.required as string[] | undefined) ?? [];

        assert.equal(schema.additionalProperties, false, `${name} documents a strict body`);
        const unknown = await request(url, { body: { not_a_field: 'x' } });
        assert.equal(unknown.status, 400, `${name} with an unknown field`);
        assert.ok(errorPoints(unknown).includes('not_a_field'), `${name} names the unknown field`);

        if (required.length > 0) {
          const empty = await request(url, { body: {} });
          assert.equal(empty.status, 400, `${name} without its required fields`);
          assert.deepEqual(errorPoints(empty).sort(), [...required].sort(), `${name} names its required fields`);
        }

        for (const property of properties) {
          const wrongType = await request(url, { body: { [property]: [] } });
          assert.equal(wrongType.status, 400, `${name} with a list as ${property}`);
          assert.ok(errorPoints(wrongType).includes(property), `${name} names ${property} of a wrong type`);
        }
      }
    }
  });

  test('error responses share ErrorList', () => {
    const errorList = document.components.schemas.ErrorList as { items: { properties: Json } };
    assert.deepEqual(Object.keys(errorList.items.properties).sort(), ['error_message', 'error_point', 'error_type']);

    let checked = 0;
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const operations = [operation, ...Object.values(operation['x-actions'] ?? {})];
        for (const [status, response] of operations.flatMap((entry) => Object.entries(entry.responses))) {
          if (Number(status) < 400) continue;
          const resolved = resolve(document, response);
          const content = resolved.content as Record<string, { schema: Json }>;

          // A link page explains a bad link in HTML, for the person who opened it.
          if (content['text/html']) {
            assert.ok(path.startsWith('/accounts/'), `${method} ${path} ${status} is HTML, outside the API`);
            assert.equal(status, '400', `${method} ${path} ${status} is HTML`);
            continue;
          }
          assert.ok(typeof response.$ref === 'string', `${method} ${path} ${status} is a shared response`);
          assert.deepEqual(content['application/json']?.schema, { $ref: '#/components/schemas/ErrorList' }, `${method} ${path} ${status}`);
          checked += 1;
        }
      }
    }
    assert.ok(checked > 100, `${checked} error responses checked`);
  });

  test('responses match documented schemas', async () => {
    const account = await activeAccount(server.url, smtp);
    const basic = { Authorization: `Basic ${Buffer.from(`${account.email}:${PASSWORD}`).toString('base64')}` };
    const accountsPath = '/api/2.0/accounts/action/';
    const documentedGet = (path: string) => document.paths[path]?.get as Operation;

    const login = await action(server.url, 'login', { body: { username: account.email, password: PASSWORD } });
    assertMatches(responseSchema(document, actionOperation(document, accountsPath, 'login'), '200'), login.body, 'login');
    const lookup = await action(server.url, 'check_login_with_return_uuid', { headers: basic });
    assertMatches(responseSchema(document, actionOperation(document, accountsPath, 'check_login_with_return_uuid'), '200'), lookup.body, 'uuid lookup');
    const setup = await action(server.url, 'otp_setup', { headers: basic });
    assertMatches(responseSchema(document, actionOperation(document, accountsPath, 'otp_setup'), '200'), setup.body, 'otp_setup');

    const profile = await get(`${server.url}/api/2.0/profile/`, basic);
    assertMatches(responseSchema(document, documentedGet('/api/2.0/profile/'), '200'), profile.body, 'profile');
    const sessions = await get(`${server.url}/api/2.0/accounts/sessions/`, basic);
    assertMatches(responseSchema(document, documentedGet('/api/2.0/accounts/sessions/'), '200'), sessions.body, 'sessions');

    const created = await request(`${server.url}/api/2.0/accounts/tokens/`, { body: { name: 'docs', expires: null }, headers: basic });
    assert.equal(created.status, 201, created.text);
    assertMatches(responseSchema(document, document.paths['/api/2.0/accounts/tokens/']?.post as Operation, '201'), created.body, 'new token');
    const tokens = await get(`${server.url}/api/2.0/accounts/tokens/`, basic);
    assertMatches(responseSchema(document, documentedGet('/api/2.0/accounts/tokens/'), '200'), tokens.body, 'tokens');

    const logs = await get(`${server.url}/api/2.0/logs/`, basic);
    assertMatches(responseSchema(document, documentedGet('/api/2.0/logs/'), '200'), logs.body, 'audit logs');
    const live = await get(`${server.url}/health/live`);
    assertMatches(responseSchema(document, documentedGet('/health/live'), '200'), live.body, 'liveness');

    const unauthenticated = await get(`${server.url}/api/2.0/profile/`);
    assert.equal(unauthenticated.status, 401);
    assertMatches(responseSchema(document, documentedGet('/api/2.0/profile/'), '401'), unauthenticated.body, 'a 401');
  });

  test('security schemes follow settings', () => {
    const schemes = document.components.securitySchemes;

    assert.deepEqual(Object.keys(schemes).sort(), ['asyncAuth', 'basic', 'bearer', 'csrf', 'session']);
    assert.deepEqual(schemes.basic, { ...schemes.basic, type: 'http', scheme: 'basic' });
    assert.deepEqual(schemes.bearer, { ...schemes.bearer, type: 'http', scheme: 'bearer' });
    assert.deepEqual(schemes.session, { ...schemes.session, type: 'apiKey', in: 'cookie', name: 'sessionid' });
    assert.deepEqual(schemes.csrf, { ...schemes.csrf, type: 'apiKey', in: 'header', name: 'X-CSRFToken' });

    const putProfile = document.paths['/api/2.0/profile/']?.put;
    assert.ok(putProfile?.security.some((requirement) => 'session' in requirement && 'csrf' in requirement), 'a session PUT needs the CSRF header');
    assert.ok(!putProfile?.security.some((requirement) => 'session' in requirement && !('csrf' in requirement)), 'no session PUT without it');
    assert.deepEqual(actionOperation(document, '/api/2.0/accounts/action/', 'login').security, [{}], 'login needs no credentials');
  });

  test('document is cacheable JSON', async () => {
    const first = await get(`${server.url}${OPENAPI_URL}`);
    const etag = first.headers.get('etag') ?? '';

    assert.match(first.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(first.headers.get('cache-control') ?? '', /^public, max-age=\d+$/);
    assert.match(etag, /^"[\w-]+"$/);

    const again = await get(`${server.url}${OPENAPI_URL}`, { 'If-None-Match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    const changed = await get(`${server.url}${OPENAPI_URL}`, { 'If-None-Match': '"other"' });
    assert.equal(changed.status, 200);

    // A browser's Accept prefers XML to */*, yet the document stays JSON.
    const fromBrowser = await get(`${server.url}${OPENAPI_URL}`, { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
    assert.equal(fromBrowser.status, 200);
    assert.deepEqual(fromBrowser.body, first.body);
    assert.equal((await get(`${server.url}/api/2.0/profile/schema/`)).headers.get('cache-control'), 'no-store', 'other API responses stay uncached');
  });
});

describe('OpenAPI document with optional settings', () => {
  let server: TestServer;
  let document: OpenApiDocument;

  before(async () => {
    server = await startTestServer({
      DIGEST_AUTH: 'on',
      METRICS_TOKEN,
      COOKIE_HOST_PREFIX: 'on',
      PUBLIC_URL: 'https://accounts.test',
    });
    document = await fetchDocument(server);
  });

  after(async () => {
    await server.stop();
  });

  test('optional routes and schemes documented', async () => {
    const result = await new Validator().validate(structuredClone(document));
    assert.equal(result.valid, true, JSON.stringify(result.errors)?.slice(0, 3000));

    assert.deepEqual(routeMismatches(server.app.routeCatalog.routes, document), []);
    assert.ok(document.paths['/metrics']?.get, 'the metrics route is documented');
    assert.deepEqual(document.paths['/metrics']?.get?.security, [{ metricsToken: [] }]);

    const schemes = document.components.securitySchemes;
    assert.deepEqual(schemes.digest, { ...schemes.digest, type: 'http', scheme: 'digest' });
    assert.equal(schemes.session?.name, '__Host-sessionid');
    assert.ok(document.paths['/api/2.0/profile/']?.get?.security.some((requirement) => 'digest' in requirement), 'profile accepts Digest');
  });
});

describe('route comparison', () => {
  test('undocumented route is reported', async () => {
    const app = Fastify({ exposeHeadRoutes: false });
    const catalog = RouteCatalog.collect(app);
    registerResource(app, '/api/2.0/documented/', { GET: async () => ({}) }, { GET: { tag: 'health', summary: 'documented', access: NO_CREDENTIALS, response: { description: 'ok' } } });
    app.get('/api/2.0/undocumented/', async () => ({}));
    await app.ready();

    const settings = { title: 't', version: '1', summary: 's', license: 'Apache-2.0', publicUrl: PUBLIC_URL, digestAuth: false, sessionCookie: 'sessionid', csrfCookie: 'csrftoken' };
    const document = buildOpenApiDocument(catalog.routes, settings) as unknown as OpenApiDocument;
    assert.deepEqual(catalog.undocumented().map((route) => route.url), ['/api/2.0/undocumented/']);
    assert.deepEqual(routeMismatches(catalog.routes, document), ['GET /api/2.0/undocumented/ has no documentation']);

    // A path documented for a route that is gone is reported too.
    document.paths['/api/2.0/removed/'] = { get: { responses: {}, security: [] } };
    assert.deepEqual(routeMismatches(catalog.routes, document), [
      'GET /api/2.0/undocumented/ has no documentation',
      'GET /api/2.0/removed/ is documented but not registered',
    ]);
    await app.close();
  });
});

describe('API reference page', () => {
  test('docs/api-reference.md matches the document', async () => {
    const server = await startTestServer({ ...REFERENCE_SETTINGS });
    try {
      const response = await fetch(`${server.url}/api/2.0/openapi.json`);
      const rendered = renderApiReference((await response.json()) as Record<string, unknown>);

      assert.equal(readFileSync(REFERENCE_PAGE, 'utf8'), rendered, 'docs/api-reference.md is out of date: run npm run docs:api');
    } finally {
      await server.stop();
    }
  });
});

describe('API_DOCS setting', () => {
  test('API_DOCS=false serves neither', async () => {
    const server = await startTestServer({ API_DOCS: 'false' });
    try {
      for (const path of [OPENAPI_URL, '/docs/', '/docs/json']) {
        const response = await get(`${server.url}${path}`);
        assert.equal(response.status, 404, path);
        assert.equal(errorList(response)[0]?.error_type, 'notexist', path);
      }
    } finally {
      await server.stop();
    }
  });

  test('API_DOCS values validated', () => {
    assert.equal(loadConfig({}).apiDocs, true);
    for (const value of ['off', 'false', '0']) assert.equal(loadConfig({ API_DOCS: value }).apiDocs, false, value);
    for (const value of ['on', 'true', '1']) assert.equal(loadConfig({ API_DOCS: value }).apiDocs, true, value);
    assert.throws(() => loadConfig({ API_DOCS: 'sometimes' }), (error: unknown) => error instanceof ConfigError && /API_DOCS/.test(error.message));
  });
});

describe('reference page in headless Chromium', { skip: chromiumSkip }, () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('page renders operations offline', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);

    // Every request that would leave 127.0.0.1 is recorded and never sent.
    const external: string[] = [];
    await context.route('**/*', async (route) => {
      if (new URL(route.request().url()).hostname === '127.0.0.1') return route.continue();
      external.push(route.request().url());
      return route.abort();
    });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));

    try {
      const opened = await page.goto(`${server.url}/docs/`);
      assert.equal(opened?.status(), 200);
      const policy = (await opened?.allHeaders())?.['content-security-policy'] ?? '';
      assert.match(policy, /script-src 'self';/);
      assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|https?:/);

      const profile = page.locator('.opblock-get .opblock-summary-path[data-path="/api/2.0/profile/"]');
      await profile.waitFor();
      assert.equal(await profile.count(), 1, 'GET profile is listed');

      const actions = page.locator('.opblock-post .opblock-summary-path[data-path="/api/2.0/accounts/action/"]');
      await actions.click();
      await page.getByRole('cell', { name: 'login', exact: true }).waitFor();
      assert.equal(await page.getByRole('cell', { name: 'verify_otp', exact: true }).count(), 1, 'the table lists verify_otp');

      assert.deepEqual(external, [], 'no request left 127.0.0.1');
      assert.deepEqual(problems, [], 'no console error and no Content-Security-Policy violation');
    } finally {
      await context.close();
    }
  });
});
