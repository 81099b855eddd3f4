import type { FastifyInstance } from 'fastify';

import { NO_CREDENTIALS, type OperationDocs, READ_CREDENTIALS } from '../api-docs/operation-docs.js';
import type { Authenticator } from '../http/authentication.js';
import { listSchema, paginationOf, paginationParameters } from '../http/pagination.js';
import { registerResource } from '../http/resource.js';
import { AUDIT_RECORD_SCHEMA, auditLogSchemaDocument, DEFAULT_LIMIT, MAX_LIMIT, presentRecord } from './audit-log-format.js';
import type { AuditStore } from './audit-store.js';

export interface AuditRouteDeps {
  audit: AuditStore;
  authenticator: Authenticator;
}

const LOGS_URL = '/api/2.0/logs/';

const LIST_DOCS: OperationDocs = {
  tag: 'audit',
  summary: 'List the audit records about the account, newest first',
  access: READ_CREDENTIALS,
  parameters: paginationParameters({ defaultLimit: DEFAULT_LIMIT, maxLimit: MAX_LIMIT }),
  response: { description: "A page of records in the layout of CloudSigma's audit log.", schema: listSchema(AUDIT_RECORD_SCHEMA) },
};

const SCHEMA_DOCS: OperationDocs = {
  tag: 'audit',
  summary: "Describe the fields of an audit record in the layout of CloudSigma's schema endpoints",
  access: NO_CREDENTIALS,
  response: { description: 'Each field with its type and meaning.', schema: { type: 'object' } },
};

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
  }, { GET: LIST_DOCS });

  registerResource(app, `${LOGS_URL}schema/`, { GET: async () => schema }, { GET: SCHEMA_DOCS });
}
