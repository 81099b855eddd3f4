import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { Config } from '../config.js';
import { registerResource } from '../http/resource.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi-document.js';
import { NO_CREDENTIALS, type OperationDocs } from './operation-docs.js';
import type { RouteCatalog } from './route-catalog.js';

export const OPENAPI_PATH = '/api/2.0/openapi.json';
const DOCS_PREFIX = '/docs';
export const DOCS_PATH = `${DOCS_PREFIX}/`;

// The policy of the other pages, except that Swagger UI's style sheet draws its icons from data: URLs.
const DOCS_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};

// Clients may reuse the document for five minutes, then revalidate it with its ETag.
const DOCUMENT_CACHE_CONTROL = 'public, max-age=300';

const OPENAPI_DOCS: OperationDocs = {
  tag: 'documentation',
  summary: 'This OpenAPI 3.1 document',
  description: `JSON, also when the request asks for XML by its Accept header or \`format\`. As on every route under /api/, an Accept header that allows neither JSON nor XML gets 406, and another \`format\` a 400. The reference page at ${DOCS_PATH} renders it.`,
  access: NO_CREDENTIALS,
  response: { description: 'The OpenAPI document.', mediaType: 'application/json', schema: { type: 'object' } },
  otherResponses: { 304: { description: 'The document is unchanged since the ETag in If-None-Match.' } },
};

interface PackageManifest {
  name: string;
  version: string;
  description: string;
  license: string;
}

interface BuiltDocument {
  document: OpenApiDocument;
  json: string;
  etag: string;
}

/**
 * Registers `GET /api/2.0/openapi.json` and the reference page under `/docs/`, which Swagger UI renders from
 * the same document with files bundled from npm. The document is built once, when the app starts, from the
 * routes in the catalog: every route registered before `app.ready()`.
 */
export function registerApiDocs(app: FastifyInstance, catalog: RouteCatalog, config: Readonly<Config>): void {
  let built: BuiltDocument | null = null;
  const documentOf = (): BuiltDocument => {
    built ??= build(app, catalog, config);
    return built;
  };

  registerResource(app, OPENAPI_PATH, {
    GET: async (request, reply) => {
      const { json, etag } = documentOf();
      reply.header('ETag', etag).header('Cache-Control', DOCUMENT_CACHE_CONTROL);
      if (matchesEtag(request, etag)) return reply.code(304).send();
      return reply.type('application/json; charset=utf-8').send(json);
    },
  }, { GET: OPENAPI_DOCS });

  // Not awaited, so that the plugin loads when the app starts, after buildApp has registered every route.
  void app.register(async (scope) => {
    // The plugin's types know OpenAPI 3.0 only; in static mode it serves any document as it is.
    const document = documentOf().document as unknown as StaticDocumentSpec['document'];
    await scope.register(swagger, { mode: 'static', specification: { document } });

    scope.addHook('onSend', async (_request, reply) => {
      reply.headers(DOCS_HEADERS);
    });
    // NOTE: the page and its files respond to GET only. HEAD gets 404, because the app turns Fastify's
    // automatic HEAD routes off and the plugin registers GET routes alone.
    await scope.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      theme: { title: `${config.productName} API reference` },
      // BaseLayout leaves out the top bar, whose field loads a document from any URL.
      uiConfig: { layout: 'BaseLayout', deepLinking: true, docExpansion: 'list', defaultModelsExpandDepth: 0 },
      validatorUrl: false,
    });
  });
}

function build(app: FastifyInstance, catalog: RouteCatalog, config: Readonly<Config>): BuiltDocument {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageManifest;
  const document = buildOpenApiDocument(catalog.routes, {
    title: manifest.name,
    version: manifest.version,
    summary: manifest.description,
    license: manifest.license,
    publicUrl: config.publicUrl,
    digestAuth: config.digestAuth,
    sessionCookie: app.sessionCookieNames.session,
    csrfCookie: app.sessionCookieNames.csrf,
  });

  const json = JSON.stringify(document);
  const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
  return { document, json, etag };
}

/** Returns whether If-None-Match names the ETag, with the weak comparison that RFC 9110 requires for it. */
function matchesEtag(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (typeof header !== 'string') return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
