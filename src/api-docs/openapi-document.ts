import { ERROR_LIST_SCHEMA } from '../http/api-error.js';
import { FORMAT_PARAMETER } from '../http/content-negotiation.js';
import { actionOperations, actionsOperation, OTP_HEADER_PARAMETER } from './action-operations.js';
import { ERROR_LIST, errorResponses } from './error-responses.js';
import { API_TAGS, type ApiTag } from './operation-docs.js';
import { operationOf } from './operation-objects.js';
import type { CatalogRoute } from './route-catalog.js';
import { type SecurityRequirement, type SecuritySettings, securitySchemes } from './security-schemes.js';

/** Settings of the document that concern the server as a whole. */
export interface DocumentSettings extends SecuritySettings {
  title: string;
  version: string;
  /** One line on what the server is. */
  summary: string;
  /** SPDX identifier of the license. */
  license: string;
  /** PUBLIC_URL, the one server of the document. */
  publicUrl: string;
}

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, Record<string, unknown>>> };

/** Returns the document's name of a Fastify route pattern: `:id` becomes `{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Builds the OpenAPI 3.1 document of the documented routes of a catalog. HEAD, OPTIONS and the 405
 * responses of each resource are described once, in `info.description`, rather than as operations of every path.
 */
export function buildOpenApiDocument(routes: readonly CatalogRoute[], settings: DocumentSettings): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  const schemas: Record<string, object> = { [ERROR_LIST]: ERROR_LIST_SCHEMA };
  const tags = new Set<ApiTag>();
  const requirements: SecurityRequirement[] = [];

  for (const route of routes) {
    if (route.hidden || route.docs === undefined || 'generic' in route.docs) continue;

    const path = openApiPath(route.url);
    for (const method of route.methods.filter((name) => name !== 'HEAD')) {
      let operation: Record<string, unknown>;
      if ('actions' in route.docs) {
        const actionRoute = route.docs.actions;
        const actions = actionOperations(route.url, actionRoute.actions, method, settings);
        Object.assign(schemas, actions.schemas);
        operation = actionsOperation(route.url, actionRoute, actions, method, settings);
        tags.add(actionRoute.tag);
      } else {
        operation = operationOf(route.url, method, route.docs.operation, settings);
        tags.add(route.docs.operation.tag);
      }

      requirements.push(...(operation.security as SecurityRequirement[]));
      paths[path] ??= {};
      paths[path][method.toLowerCase()] = operation;
    }
  }

  const used = new Set(requirements.flatMap((requirement) => Object.keys(requirement)));
  const schemes = Object.fromEntries(Object.entries(securitySchemes(settings)).filter(([name]) => used.has(name)));

  return {
    openapi: '3.1.0',
    info: {
      title: settings.title,
      version: settings.version,
      summary: settings.summary,
      description: DESCRIPTION,
      license: { name: settings.license, identifier: settings.license },
    },
    servers: [{ url: settings.publicUrl, description: 'PUBLIC_URL of this server' }],
    tags: (Object.keys(API_TAGS) as ApiTag[]).filter((tag) => tags.has(tag)).map((tag) => ({ name: tag, description: API_TAGS[tag] })),
    paths,
    components: {
      schemas,
      responses: errorResponses(),
      parameters: { format: FORMAT_PARAMETER, otp: OTP_HEADER_PARAMETER },
      securitySchemes: schemes,
    },
  };
}

const DESCRIPTION = `**Actions.** Each action is \`POST {resource}action/?do=NAME\`. OpenAPI allows no query string in a path, so
all the actions of a resource are one operation. Its \`do\` parameter lists the action names, its request
body is any one of the action bodies, and its description has a table of the actions. The operation's
\`x-actions\` extension maps each action name to an Operation Object of its own, with the action's body
schema (\`components.schemas\` \`RESOURCE.NAME.request\`, the very schema the server validates with), its
response, its credentials and its errors. An empty body counts as \`{}\`.

**Errors.** Every 4xx and 5xx response under /api/ is a CloudSigma error list (\`ErrorList\`): a JSON array of
objects with \`error_type\`, \`error_message\` and \`error_point\`, the field at fault or null.

**Formats.** Responses under /api/ are JSON, or XML when the request sends \`Accept: application/xml\`
(or \`text/xml\`) or \`?format=xml\`. Response schemas in this document describe the JSON form, and the server
does not serialize with them.

**Methods.** Every path also answers HEAD where it answers GET, answers OPTIONS with 200, its \`Allow\` header
and \`{"methods": [...]}\`, and answers any other method with 405 and an \`Allow\` header. A path without its
final slash is the same path.`;
