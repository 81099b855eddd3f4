import type { FastifyInstance } from 'fastify';

import { clientOf } from '../accounts/account-routes.js';
import { notFoundError } from '../http/api-error.js';
import type { Authenticator } from '../http/authentication.js';
import { assertCsrf } from '../http/csrf.js';
import { registerResource } from '../http/resource.js';
import type { SessionService } from '../sessions/session-service.js';
import { profileSchemaDocument } from './profile-fields.js';
import type { ProfileService } from './profile-service.js';

export interface ProfileRouteDeps {
  profiles: ProfileService;
  authenticator: Authenticator;
  sessions: SessionService;
  publicUrl: string;
}

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
  });

  registerResource(app, '/api/2.0/profile/schema/', {
    GET: async () => schema,
  });
}
