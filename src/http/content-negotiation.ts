import accepts from '@fastify/accepts';
import type { FastifyInstance } from 'fastify';

import { ApiError } from './api-error.js';

const API_TYPES = ['application/json'];

/** Rejects with 406 an API request whose `Accept` header admits no type the API can send. */
export async function registerContentNegotiation(app: FastifyInstance): Promise<void> {
  await app.register(accepts);

  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/api/') || request.headers.accept === undefined) return;

    if (request.accepts().type(API_TYPES) === false) {
      throw new ApiError(406, [
        {
          error_type: 'validation',
          error_message: `Accept admits none of the types this API sends: ${API_TYPES.join(', ')}`,
          error_point: null,
        },
      ]);
    }
  });
}
