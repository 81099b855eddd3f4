import type { BodySchema } from '../http/body-schema.js';

/**
 * The groups of operations in the OpenAPI document, with their descriptions. Every operation names one, so
 * the reference page lists it under that heading.
 */
export const API_TAGS = {
  accounts: 'The account actions: sign-up, login and logout, password reset and change, address change, two-factor authentication and deletion.',
  profile: 'The profile of the calling account.',
  sessions: 'The sessions of the calling account.',
  'api-tokens': 'API tokens, which authenticate programs with `Authorization: Bearer`.',
  audit: 'The audit trail of the calling account.',
  pages: 'HTML pages that emailed links open, and the files they load.',
  health: 'Probes for load balancers and orchestrators.',
  metrics: 'Prometheus metrics, served here only when METRICS_TOKEN is set.',
  documentation: 'This document.',
} as const;

export type ApiTag = keyof typeof API_TAGS;

/** A credential that an operation accepts; each is a security scheme of the document. */
export type Credential = 'basic' | 'digest' | 'bearer' | 'session' | 'asyncAuth' | 'metricsToken';

/** The credentials an operation accepts. */
export interface Access {
  /** Accepted credentials; empty when the operation needs none. */
  credentials: readonly Credential[];
  /** Whether a request without any of the credentials is served too. */
  optional?: boolean;
  /** Whether a request authenticated by the session cookie must echo its CSRF token in `X-CSRFToken`. */
  csrf: boolean;
}

/** No credentials: anyone may call. */
export const NO_CREDENTIALS: Access = { credentials: [], csrf: false };

/** Basic, Digest, an API token or a session, which must echo its CSRF token; a read-only token gets 403. */
export const ANY_CREDENTIALS: Access = { credentials: ['basic', 'digest', 'bearer', 'session'], csrf: true };

/** Basic, Digest, any API token or a session, without a CSRF token, because the operation changes nothing. */
export const READ_CREDENTIALS: Access = { credentials: ['basic', 'digest', 'bearer', 'session'], csrf: false };

/** Basic, Digest or a session with its CSRF token: API tokens are rejected with 403. */
export const PASSWORD_CREDENTIALS: Access = { credentials: ['basic', 'digest', 'session'], csrf: true };

/** One query, path or header parameter of an operation, as an OpenAPI Parameter Object has it. */
export interface ParameterDocs {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  description: string;
  schema: object;
}

/** A response that is not a CloudSigma error list. */
export interface ResponseDocs {
  description: string;
  /**
   * JSON Schema of a JSON body. It documents the response and nothing else: responses are serialized
   * without it, so it never changes a byte of them.
   */
  schema?: object;
  /**
   * Media type of the body when it is always that type. Without it the body is JSON, or XML when the request
   * prefers XML, as for every response under /api/.
   */
  mediaType?: string;
}

/** An HTTP status of a CloudSigma error list. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 406 | 413 | 429 | 500 | 503;

/** The OpenAPI entry of one method of one route. */
export interface OperationDocs {
  tag: ApiTag;
  summary: string;
  /** CommonMark, as OpenAPI allows. */
  description?: string;
  access: Access;
  parameters?: readonly ParameterDocs[];
  /** JSON Schema of the request body. Where the route validates with a schema, it is that very object. */
  requestBody?: object;
  /** The successful response, with status 200 unless `status` is set. */
  response: ResponseDocs & { status?: 200 | 201 };
  /**
   * Error statuses beyond those that the access, the request body and the /api/ prefix imply, which the
   * document adds by itself.
   */
  errors?: readonly ErrorStatus[];
  /** Responses of other statuses that are not error lists, such as the HTML page of a link that cannot be used. */
  otherResponses?: Readonly<Record<number, ResponseDocs>>;
}

/** The OpenAPI entry of one `?do=` action. Its request body is the action's own schema. */
export interface ActionDocs {
  summary: string;
  description?: string;
  access: Access;
  response: ResponseDocs;
  errors?: readonly ErrorStatus[];
  /** Whether the action reads a second-factor code from the `OTP` header. */
  otpHeader?: boolean;
}

/** The actions of one `{resource}action/` route, and the document's description of the route as a whole. */
export interface ActionRouteDocs {
  tag: ApiTag;
  summary: string;
  description: string;
  actions: Readonly<Record<string, { body: BodySchema; docs: ActionDocs }>>;
}

/**
 * The documentation that a route carries in its Fastify `config.docs`: an operation, a table of actions, or
 * the OPTIONS and 405 responses that every resource has and the document describes once for all of them.
 */
export type RouteDocs = { operation: OperationDocs } | { actions: ActionRouteDocs } | { generic: 'options' | 'method-not-allowed' };

declare module 'fastify' {
  interface FastifyContextConfig {
    docs?: RouteDocs;
  }
}

/** The body of a success that carries no data, which is `{}` because JSON clients cannot parse an empty body. */
export const EMPTY_OBJECT_SCHEMA = { type: 'object', properties: {}, additionalProperties: false } as const;

/** A uuid as the API writes it: lower case. */
export const UUID_SCHEMA = { type: 'string', format: 'uuid' } as const;

/** A date and time as the API writes it: ISO 8601 with a UTC offset. */
export const DATE_TIME_SCHEMA = { type: 'string', format: 'date-time' } as const;
