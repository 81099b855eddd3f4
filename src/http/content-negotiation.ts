import accepts from '@fastify/accepts';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { ParameterDocs } from '../api-docs/operation-docs.js';
import { ApiError, validationError } from './api-error.js';

// Media types of API responses. The order breaks ties in Accept, so that the wildcards (any type, or any
// application type) get JSON.
export const RESPONSE_TYPES = ['application/json', 'application/xml', 'text/xml'] as const;
export type ResponseType = (typeof RESPONSE_TYPES)[number];

const DEFAULT_TYPE: ResponseType = 'application/json';

/** Values of the `format` query parameter. */
const FORMATS: Record<string, ResponseType> = { json: 'application/json', xml: 'application/xml' };

/** The OpenAPI entry of the `format` query parameter, which every operation under /api/ reads. */
export const FORMAT_PARAMETER: ParameterDocs = {
  name: 'format',
  in: 'query',
  description: 'The response format; it wins over the Accept header. An unknown value is a 400.',
  schema: { type: 'string', enum: Object.keys(FORMATS) },
};

const responseTypes = new WeakMap<FastifyRequest, ResponseType>();

/**
 * Chooses the response type of every API request. An unknown `?format=` is rejected with a 400 on `format`,
 * and an `Accept` header that matches none of RESPONSE_TYPES with a 406.
 */
export async function registerContentNegotiation(app: FastifyInstance): Promise<void> {
  await app.register(accepts);

  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/')) return;

    reply.header('Vary', 'Accept');
    responseTypes.set(request, chooseResponseType(request));
  });
}

/** Returns the response type chosen for `request`, or JSON when none was chosen (for example before routing). */
export function responseTypeOf(request: FastifyRequest): ResponseType {
  return responseTypes.get(request) ?? DEFAULT_TYPE;
}

function chooseResponseType(request: FastifyRequest): ResponseType {
  // The query parameter is for people typing URLs into a browser, whose Accept they cannot change, so it
  // wins over Accept. Of repeated parameters the last one counts.
  const query = request.query as Record<string, unknown>;
  const format = [query.format].flat().at(-1);
  if (format !== undefined) {
    const name = String(format).toLowerCase();
    const type = Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
    if (!type) throw validationError('format', `format must be json or xml, not "${String(format).slice(0, 64)}"`);
    return type;
  }

  if (request.headers.accept === undefined) return DEFAULT_TYPE;

  // NOTE: the accepts package ranks types by quality, then specificity, then order in the header, so
  // `Accept: application/xml, application/json` gets XML. CloudSigma documents JSON for that case.
  const type = request.accepts().type([...RESPONSE_TYPES]);
  if (type === false) {
    const accept = request.headers.accept.slice(0, 128);
    throw new ApiError(406, [
      {
        error_type: 'validation',
        error_message: `Accept "${accept}" matches no response type of this API. Send an Accept header with one of ${RESPONSE_TYPES.join(', ')} or */*, or add ?format=json to the URL.`,
        error_point: null,
      },
    ]);
  }
  return type as ResponseType;
}
