import { errorResponseRef } from './error-responses.js';
import type { Credential, ErrorStatus, OperationDocs, ResponseDocs } from './operation-docs.js';
import { type SecuritySettings, securityOf } from './security-schemes.js';

/** Returns the Operation Object of one method of a route. */
export function operationOf(url: string, method: string, docs: OperationDocs, settings: SecuritySettings): Record<string, unknown> {
  const negotiated = url.startsWith('/api/') && docs.response.mediaType === undefined;
  const parameters = [...(docs.parameters ?? []), ...(negotiated ? [{ $ref: '#/components/parameters/format' }] : [])];

  const responses: Record<string, object> = { [String(docs.response.status ?? 200)]: responseOf(docs.response) };
  for (const [status, response] of Object.entries(docs.otherResponses ?? {})) responses[status] = responseOf(response);
  for (const status of errorStatusesOf(url, docs)) responses[String(status)] ??= errorResponseRef(status);

  return {
    tags: [docs.tag],
    summary: docs.summary,
    ...(docs.description === undefined ? {} : { description: docs.description }),
    operationId: operationIdOf(method, url),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(docs.requestBody === undefined ? {} : { requestBody: requestBodyOf(docs.requestBody) }),
    responses: sortedByStatus(responses),
    security: securityOf(docs.access, method, settings),
  };
}

const ACCOUNT_CREDENTIALS = new Set<Credential>(['basic', 'digest', 'bearer', 'session']);

/** Returns the error statuses of an operation: its own, and those its access, body and path imply. */
export function errorStatusesOf(url: string, docs: Pick<OperationDocs, 'access' | 'errors' | 'requestBody'>): ErrorStatus[] {
  const statuses = new Set<ErrorStatus>(docs.errors ?? []);
  const { credentials, optional } = docs.access;

  // Under /api/ every request may send an unknown ?format= (400) or an Accept of no API type (406).
  if (url.startsWith('/api/')) statuses.add(400).add(406);
  if (docs.requestBody !== undefined) statuses.add(400).add(413);
  // Account credentials are looked up in the database, and an account may be restricted. Basic and Digest
  // check a password, which is throttled.
  const required = credentials.length > 0 && optional !== true;
  if (required) statuses.add(401);
  if (required && credentials.some((credential) => ACCOUNT_CREDENTIALS.has(credential))) statuses.add(403).add(503);
  if (credentials.includes('basic')) statuses.add(429);
  statuses.add(500);

  return [...statuses].sort((a, b) => a - b);
}

/** Returns the Response Object of a response that is not an error list. */
export function responseOf(response: ResponseDocs): object {
  const mediaType = response.mediaType ?? 'application/json';
  const schema = response.schema ?? (mediaType === 'application/json' ? undefined : { type: 'string' });
  return { description: response.description, ...(schema === undefined ? {} : { content: { [mediaType]: { schema } } }) };
}

/**
 * Returns the Request Body Object of a JSON body. It is required only when the body schema requires a field;
 * `schema` may be a reference to `body`.
 */
export function requestBodyOf(schema: object, body: object = schema): object {
  const required = ((body as { required?: unknown[] }).required ?? []).length > 0;
  return { required, content: { 'application/json': { schema } } };
}

export function operationIdOf(method: string, url: string): string {
  return `${method.toLowerCase()}_${url.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`;
}

export function sortedByStatus(responses: Record<string, object>): Record<string, object> {
  return Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
}
