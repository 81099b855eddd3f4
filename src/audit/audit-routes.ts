import type { FastifyInstance } from 'fastify';

import type { Authenticator } from '../http/authentication.js';
import { paginationOf } from '../http/pagination.js';
import { registerResource } from '../http/resource.js';
import { auditLogSchemaDocument, DEFAULT_LIMIT, MAX_LIMIT, presentRecord } from './audit-log-format.js';
import type { AuditStore } from './audit-store.js';

export interface AuditRouteDeps {
  audit: AuditStore;
  authenticator: Authenticator;
}

const LOGS_URL = '/api/2.0/logs/';

/**
 * Registers `GET /api/2.0/logs/`, the audit records about the calling account, newest first, in
 * CloudSigma's list layout, and `GET /api/2.0/logs/schema/`.
 */
export function registerAuditRoutes(app: FastifyInstance, deps: AuditRouteDeps): void {
  const { audit, authenticator } = deps;
  const schema = auditLogSchemaDocument();

  registerResource(app, LOGS_URL, {
    GET: async (request) => {
      const caller = await authenticator.require(request);
      const pagination = paginationOf(request.query, { defaultLimit: DEFAULT_LIMIT, maxLimit: MAX_LIMIT });

      const page = { limit: pagination.limit === 0 ? null : pagination.limit, offset: pagination.offset };
      const records = await audit.listOf(caller.accountUuid, page);
      const totalCount = await audit.countOf(caller.accountUuid);

      return {
        meta: { limit: pagination.limit, offset: pagination.offset, total_count: totalCount },
        objects: records.map(presentRecord),
      };
    },
  });

  registerResource(app, `${LOGS_URL}schema/`, {
    GET: async () => schema,
  });
}
