import type { FastifyInstance } from 'fastify';

import { clientOf } from '../accounts/account-routes.js';
import { ANY_CREDENTIALS, NO_CREDENTIALS, type OperationDocs, READ_CREDENTIALS } from '../api-docs/operation-docs.js';
import { notFoundError } from '../http/api-error.js';
import type { Authenticator } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { registerResource } from '../http/resource.js';
import type { SessionService } from '../sessions/session-service.js';
import { profileSchemaDocument } from './profile-fields.js';
import { profileJsonSchema } from './profile-json-schema.js';
import type { ProfileService } from './profile-service.js';

export interface ProfileRouteDeps {
  profiles: ProfileService;
  authenticator: Authenticator;
  sessions: SessionService;
  publicUrl: string;
}

const PROFILE_RESPONSE = { description: 'Every field of the profile.', schema: profileJsonSchema('response') };

const READ_DOCS: OperationDocs = {
  tag: 'profile',
  summary: 'Read the profile of the account',
  access: READ_CREDENTIALS,
  response: PROFILE_RESPONSE,
  errors: [404],
};

const UPDATE_DOCS: OperationDocs = {
  tag: 'profile',
  summary: 'Change the writable fields of the profile that the body names',
  description: 'Read-only fields are ignored, so a client may send back what it read. An unknown or invalid field is a 400 on that field.',
  access: ANY_CREDENTIALS,
  requestBody: profileJsonSchema('request'),
  response: PROFILE_RESPONSE,
  errors: [404],
};

const SCHEMA_DOCS: OperationDocs = {
  tag: 'profile',
  summary: "Describe the profile's fields in the layout of CloudSigma's schema endpoints",
  access: NO_CREDENTIALS,
  response: { description: 'Each field with its type, default, and whether it is read-only.', schema: { type: 'object' } },
};

/** Registers `/api/2.0/profile/` (GET, PUT) and `/api/2.0/profile/schema/` (GET). */
export function registerProfileRoutes(app: FastifyInstance, deps: ProfileRouteDeps): void {
  const { profiles, authenticator } = deps;
  const schema = profileSchemaDocument();

  registerResource(app, '/api/2.0/profile/', {
    GET: async (request) => {
      const caller = await authenticator.require(request);
      const profile = await profiles.get(caller.accountUuid);
      if (!profile) throw notFoundError('the account has no profile');
      return profile;
    },
    PUT: async (request) => {
      const caller = await authenticator.require(request);
      assertCsrf(request, caller, deps.sessions, deps.publicUrl);

      const body = request.body === undefined ? {} : request.body;
      const profile = await profiles.update(caller.accountUuid, body, clientOf(request));
      if (!profile) throw notFoundError('the account has no profile');
      return profile;
    },
  }, { GET: READ_DOCS, PUT: UPDATE_DOCS });

  registerResource(app, '/api/2.0/profile/schema/', { GET: async () => schema }, { GET: SCHEMA_DOCS });
}
