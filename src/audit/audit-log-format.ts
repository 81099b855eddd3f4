import { isoWithOffset } from '../iso-time.js';
import { errorFieldsOf, OPERATOR } from './audit-events.js';
import type { AuditRecord } from './audit-store.js';

/** Default and maximum `limit` of `GET /api/2.0/logs/`. */
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

/**
 * Returns a record in the layout of CloudSigma's audit-log list entries. `uuid` is the account the event is
 * about, and `details` adds the client's IP address and user agent, which that layout has no field for.
 */
export function presentRecord(record: AuditRecord): Record<string, unknown> {
  const failure = record.success || record.reason === null ? null : errorFieldsOf(record.reason);
  const details = [record.details, record.ip ? `IP ${record.ip}` : '', record.userAgent ? `user agent ${record.userAgent}` : '']
    .filter((part) => part !== '')
    .join('; ');

  return {
    action: record.type,
    actor: actorOf(record.actor),
    category: record.category,
    details,
    error_message: failure?.message ?? '',
    error_point: failure?.errorPoint ?? null,
    error_type: failure?.errorType ?? null,
    success: record.success,
    // CloudSigma separates date and time with a space here, unlike in other resources.
    timestamp: isoWithOffset(record.createdAt).replace('T', ' '),
    uuid: record.accountUuid ?? '',
  };
}

/** JSON Schema of a record as presentRecord writes it. */
export const AUDIT_RECORD_SCHEMA = {
  type: 'object',
  properties: {
    action: { type: 'string' },
    actor: {
      type: ['object', 'null'],
      properties: { resource_uri: { type: ['string', 'null'] }, uuid: { type: 'string' } },
      required: ['resource_uri', 'uuid'],
    },
    category: { type: 'string' },
    details: { type: 'string' },
    error_message: { type: 'string' },
    error_point: { type: ['string', 'null'] },
    error_type: { type: ['string', 'null'] },
    success: { type: 'boolean' },
    timestamp: { type: 'string', description: 'UTC with microseconds, date and time separated by a space.' },
    uuid: { type: 'string', description: 'The account the event concerns, or empty.' },
  },
  required: ['action', 'actor', 'category', 'details', 'error_message', 'error_point', 'error_type', 'success', 'timestamp', 'uuid'],
  additionalProperties: false,
} as const;

/**
 * Returns the actor as a related user resource. The operator command line has no user resource, so it
 * appears with the uuid "operator" and no resource_uri; an anonymous caller appears as null.
 */
function actorOf(actor: string | null): Record<string, string | null> | null {
  if (actor === null) return null;
  if (actor === OPERATOR) return { resource_uri: null, uuid: OPERATOR };
  return { resource_uri: `/api/2.0/user/${actor}/`, uuid: actor };
}

type FieldType = 'string' | 'related' | 'boolean';

function field(type: FieldType, required: boolean, helpText: string, defaultValue: boolean | null = null) {
  return { default: defaultValue, help_text: helpText, readonly: true, required, type };
}

/** Returns the body of `GET /api/2.0/logs/schema/`, in the layout of CloudSigma's schema endpoints. */
export function auditLogSchemaDocument(): object {
  return {
    allowed_detail_http_methods: [],
    allowed_list_http_methods: ['get'],
    default_format: 'application/json',
    default_limit: DEFAULT_LIMIT,
    fields: {
      action: field('string', true, 'The event: an account action such as login, or an operator action such as disable_account.'),
      actor: field('related', false, 'The user who acted; null for an anonymous caller, uuid "operator" for the operator command line.'),
      category: field('string', true, 'The kind of resource the event concerns, such as Accounts or Sessions.'),
      details: field('string', false, 'A note on the event, with the IP address and user agent of the client.'),
      error_message: field('string', false, 'Why the event failed; empty when it succeeded.'),
      error_point: field('string', false, 'The request field that the failure is about, if any.'),
      error_type: field('string', false, 'The CloudSigma error type of the failure; null when the event succeeded.'),
      success: field('boolean', true, 'Whether the event succeeded.', true),
      timestamp: field('string', true, 'When the event was recorded, in UTC with microseconds.'),
      uuid: field('string', false, 'The account the event concerns.'),
    },
    // NOTE: the list accepts no filters yet, only limit and offset.
    filtering: {},
  };
}
