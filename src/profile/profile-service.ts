import countries from 'i18n-iso-countries';

import { validationErrors } from '../http/api-error.js';
import { MAX_REPORTED_ERRORS } from '../http/body-schema.js';
import { isoWithOffset } from '../iso-time.js';
import type { ClientInfo } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import { META_LIMITS, PROFILE_FIELDS, type ProfileField } from './profile-fields.js';
import type { StoredProfile } from './profile-store.js';

type Problem = { point: string; message: string };

// A non-negative decimal as a string, optionally in exponent form ("26.73", "0E-16"), as CloudSigma sends.
export const DECIMAL = /^\d{1,15}(\.\d{1,16})?([eE][+-]?\d{1,2})?$/;
const MAX_DECIMAL = 1e15;
// C0 controls other than tab, line feed and carriage return, DEL, and lone surrogates.
const FORBIDDEN_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Reads and edits the profile of an account. */
export class ProfileService {
  constructor(private readonly store: Store) {}

  async get(accountUuid: string): Promise<Record<string, unknown> | null> {
    const profile = await this.store.profiles.find(accountUuid);
    return profile ? render(profile) : null;
  }

  /**
   * Validates a PUT body and saves its writable fields; read-only fields are ignored. Throws a 400 that
   * lists every invalid or unknown field, saving nothing, when any is wrong.
   */
  async update(accountUuid: string, body: unknown, client: ClientInfo | null = null): Promise<Record<string, unknown> | null> {
    const changes = validateUpdate(body);

    return this.store.transaction(async (stores) => {
      const profile = await stores.profiles.find(accountUuid, { forUpdate: true });
      if (!profile) return null;

      const values = { ...profile.values, ...changes };
      await stores.profiles.save(accountUuid, values);
      // api_https_only decides which requests the account accepts, so its changes go to the audit trail.
      const httpsOnly = values.api_https_only === true;
      if (httpsOnly !== (profile.values.api_https_only === true)) {
        await stores.audit.record({ type: 'set_api_https_only', actor: accountUuid, accountUuid, client, details: `api_https_only ${httpsOnly}` });
      }
      return render({ ...profile, values });
    });
  }
}

/** Returns the profile as clients see it: every field, written values over defaults. */
export function render(profile: StoredProfile): Record<string, unknown> {
  const computed: Record<string, unknown> = {
    uuid: profile.uuid,
    email: profile.email,
    signup_time: isoWithOffset(profile.createdAt),
    state: profile.state,
    network_restrictions: profile.networkRestrictions,
    otp_enabled: profile.twoFactorEnabled,
  };

  const output: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(PROFILE_FIELDS)) {
    if (name in computed) output[name] = computed[name];
    else if (Object.hasOwn(profile.values, name)) output[name] = profile.values[name];
    else output[name] = defaultOf(name, field);
  }
  return output;
}

function defaultOf(name: string, field: ProfileField): unknown {
  if (name === 'meta') return {};
  return field.default === undefined ? null : field.default;
}

function validateUpdate(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationErrors([{ point: null, message: 'request body must be a JSON object' }]);
  }

  const changes: Record<string, unknown> = {};
  const problems: Problem[] = [];

  for (const [name, value] of Object.entries(body)) {
    const field = Object.hasOwn(PROFILE_FIELDS, name) ? PROFILE_FIELDS[name] : undefined;
    if (!field) {
      const shown = name.slice(0, 64);
      problems.push({ point: shown, message: `${shown} is not a profile field` });
      continue;
    }
    if (field.readonly) continue;

    const problem = checkValue(name, field, value);
    if (problem) problems.push({ point: name, message: problem });
    else changes[name] = normalize(name, value);
  }

  if (problems.length > 0) throw validationErrors(problems.slice(0, MAX_REPORTED_ERRORS));
  return changes;
}

function checkValue(name: string, field: ProfileField, value: unknown): string | null {
  if (value === null) return field.nullable ? null : `${name} must not be null`;

  switch (field.type) {
    case 'boolean':
      return typeof value === 'boolean' ? null : `${name} must be true or false`;
    case 'decimal':
      return checkDecimal(name, value);
    case 'dict':
      return checkMeta(value);
    default:
      return checkString(name, field, value);
  }
}

function checkString(name: string, field: ProfileField, value: unknown): string | null {
  if (typeof value !== 'string') return `${name} must be a string`;
  if (FORBIDDEN_CHARACTERS.test(value)) return `${name} must not contain control characters or invalid Unicode`;
  if (field.maxLength !== undefined && [...value].length > field.maxLength) {
    return `${name} must be at most ${field.maxLength} characters long`;
  }
  if (name === 'country' && value !== '' && !countries.isValid(value.toUpperCase())) {
    return 'country must be an ISO 3166-1 alpha-2 code such as "BG", or empty';
  }
  return null;
}

function checkDecimal(name: string, value: unknown): string | null {
  const hint = `${name} must be a non-negative decimal number written as a string, such as "26.73"`;
  if (typeof value !== 'string' || !DECIMAL.test(value)) return hint;
  return Number(value) < MAX_DECIMAL ? null : `${name} must be less than ${MAX_DECIMAL}`;
}

function checkMeta(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'meta must be an object of string values';
  }

  const entries = Object.entries(value);
  if (entries.length > META_LIMITS.maxKeys) return `meta must have at most ${META_LIMITS.maxKeys} keys`;

  for (const [key, entry] of entries) {
    if (key === '' || [...key].length > META_LIMITS.maxKeyLength || FORBIDDEN_CHARACTERS.test(key)) {
      return `meta keys must be 1 to ${META_LIMITS.maxKeyLength} characters without control characters`;
    }
    if (typeof entry !== 'string') return `meta.${key} must be a string`;
    if ([...entry].length > META_LIMITS.maxValueLength || FORBIDDEN_CHARACTERS.test(entry)) {
      return `meta.${key} must be at most ${META_LIMITS.maxValueLength} characters without control characters`;
    }
  }
  return null;
}

function normalize(name: string, value: unknown): unknown {
  return name === 'country' && typeof value === 'string' ? value.toUpperCase() : value;
}
