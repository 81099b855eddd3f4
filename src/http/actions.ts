import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { validationError } from './api-error.js';
import { type BodySchema, bodyValidator } from './body-schema.js';
import { rejectControlCharacters } from './control-characters.js';
import { registerResource } from './resource.js';

/** One `?do=` action of a resource: the schema of its body and what it does with a valid one. */
export interface Action<Body> {
  body: BodySchema;
  handle(request: FastifyRequest, reply: FastifyReply, body: Body): Promise<unknown>;
}

// Actions differ in their body type, so the table stores them with the body type erased. Each body is
// checked against its own schema before its handler sees it.
export type ActionTable = Record<string, Action<never>>;

/**
 * Registers `POST {resourceUrl}action/?do=NAME` for every action in the table. A body that fails its schema,
 * or has a control character in a string field, is a 400 before the action runs.
 */
export function registerActions(app: FastifyInstance, resourceUrl: string, actions: ActionTable): void {
  const names = Object.keys(actions).sort();
  const validators = new Map(Object.entries(actions).map(([name, action]) => [name, bodyValidator(action.body)]));

  registerResource(app, `${resourceUrl}action/`, {
    POST: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const name = query.do;

      if (Array.isArray(name)) throw validationError('do', 'do must be given once');
      if (typeof name !== 'string' || name === '') {
        throw validationError('do', `do is required: one of ${names.join(', ')}`);
      }
      const action = Object.hasOwn(actions, name) ? actions[name] : undefined;
      const validate = validators.get(name);
      if (!action || !validate) {
        throw validationError('do', `do must be one of ${names.join(', ')}; "${name.slice(0, 64)}" is not an action`);
      }

      // No body at all counts as {}; a JSON null is a body, and not an object.
      const body = validate(request.body === undefined ? {} : request.body);
      rejectControlCharacters(body);
      return action.handle(request, reply, body as never);
    },
  });
}
