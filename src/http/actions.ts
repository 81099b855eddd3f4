import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import type { ActionDocs, ActionRouteDocs } from '../api-docs/operation-docs.js';
import { validationError } from './api-error.js';
import { type BodySchema, bodyValidator } from './body-schema.js';
import { rejectControlCharacters } from './control-characters.js';
import { type Handler, registerResource } from './resource.js';

/** One `?do=` action of a resource: the schema of its body, its OpenAPI entry, and what it does with a valid body. */
export interface Action<Body> {
  body: BodySchema;
  docs: ActionDocs;
  handle(request: FastifyRequest, reply: FastifyReply, body: Body): Promise<unknown>;
}

// Actions differ in their body type, so the table stores them with the body type erased. Each body is
// checked against its own schema before its handler sees it.
export type ActionTable = Record<string, Action<never>>;

/** The OpenAPI entry of an actions route as a whole, to which each action adds its own. */
export type ActionsSummary = Omit<ActionRouteDocs, 'actions'>;

/**
 * Registers `POST {resourceUrl}action/?do=NAME` for every action in the table. A body that fails its schema,
 * or has a control character in a string field, is a 400 before the action runs.
 */
export function registerActions(app: FastifyInstance, resourceUrl: string, actions: ActionTable, summary: ActionsSummary): void {
  const names = Object.keys(actions).sort();
  const validators = new Map(Object.entries(actions).map(([name, action]) => [name, bodyValidator(action.body)]));

  const docs: ActionRouteDocs = {
    ...summary,
    actions: Object.fromEntries(Object.entries(actions).map(([name, action]) => [name, { body: action.body, docs: action.docs }])),
  };

  const dispatch: Handler = async (request, reply) => {
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
  };

  registerResource(app, `${resourceUrl}action/`, { POST: dispatch }, { POST: docs });
}
