import type { FastifyInstance } from 'fastify';

import { NO_CREDENTIALS, type OperationDocs } from '../api-docs/operation-docs.js';
import { ApiError } from '../http/api-error.js';
import { registerResource } from '../http/resource.js';
import type { Store } from '../storage/store.js';

// A readiness probe must respond quickly even when the database hangs.
const PING_TIMEOUT_MS = 2000;

const LIVE_DOCS: OperationDocs = {
  tag: 'health',
  summary: 'Liveness: the process serves HTTP',
  access: NO_CREDENTIALS,
  response: { description: 'The process is live.', schema: statusSchema('live') },
};

const READY_DOCS: OperationDocs = {
  tag: 'health',
  summary: 'Readiness: the database responds and the node is not stopping',
  access: NO_CREDENTIALS,
  response: { description: 'The node is ready.', schema: statusSchema('ready') },
  errors: [503],
};

/**
 * Registers the probes of a load balancer or orchestrator: `/health/live` (the process serves HTTP) and
 * `/health/ready` (the database responds and the node is not stopping).
 */
export function registerHealthRoutes(app: FastifyInstance, store: Store): void {
  let stopping = false;
  app.addHook('preClose', async () => {
    stopping = true;
  });

  registerResource(app, '/health/live', { GET: async () => ({ status: 'live' }) }, { GET: LIVE_DOCS });

  registerResource(app, '/health/ready', {
    GET: async (request) => {
      if (stopping) throw unavailable('backend', 'the node is stopping');

      try {
        await withTimeout(store.ping(), PING_TIMEOUT_MS);
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        throw unavailable('database', 'the database is unavailable');
      }
      return { status: 'ready' };
    },
  }, { GET: READY_DOCS });
}

function statusSchema(status: string): object {
  return { type: 'object', properties: { status: { type: 'string', const: status } }, required: ['status'], additionalProperties: false };
}

function unavailable(type: 'backend' | 'database', message: string): ApiError {
  return new ApiError(503, [{ error_type: type, error_message: message, error_point: null }], { 'Retry-After': '2' });
}

async function withTimeout<T>(work: Promise<T>, milliseconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${milliseconds} ms`)), milliseconds);
  });

  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
