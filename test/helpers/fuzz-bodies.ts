import fc from 'fast-check';

import { PROFILE_FIELDS, type ProfileField } from '../../src/profile/profile-fields.js';
import {
  anyJson,
  anyText,
  emailValue,
  FixtureRef,
  headerText,
  type JsonWithRefs,
  overlongText,
  passwordValue,
  tokenValue,
} from './fuzz-values.js';

/** A change to the JSON text of a body after serialisation. */
export type TextEdit =
  | { kind: 'none' }
  | { kind: 'append'; text: string }
  | { kind: 'cut'; keep: number }
  | { kind: 'duplicate-first-key'; value: JsonWithRefs }
  | { kind: 'byte-order-mark' };

/** The body of a generated request, as plain data; bodyBytes turns it into bytes. */
export type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: JsonWithRefs; edit: TextEdit }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: Uint8Array }
  /** `depth` nested arrays, or objects `{"a": ...}`, around a zero. */
  | { kind: 'nested'; depth: number; opener: '[' | '{"a":' }
  /** A JSON object whose one string makes the body `extraBytes` longer than the body limit. */
  | { kind: 'oversized'; extraBytes: number };

/** Request bodies by action: the fields of a valid body, and which of them are required. */
export interface ActionBody {
  fields: Record<string, fc.Arbitrary<JsonWithRefs>>;
  required: string[];
}

/** Promo codes that the fuzz test creates: one that works, one used up and one expired. */
export const PROMO_CODES = { valid: 'FUZZ-VALID', usedUp: 'FUZZ-USED-UP', expired: 'FUZZ-EXPIRED' };

function promoValue(): fc.Arbitrary<JsonWithRefs> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.constantFrom(PROMO_CODES.valid, PROMO_CODES.valid.toLowerCase(), PROMO_CODES.usedUp, PROMO_CODES.expired) },
    { weight: 1, arbitrary: anyText(70) },
  );
}

/** Returns the fields of a valid body of every action that has a template here; others get `{}`. */
export function actionBodies(): Record<string, ActionBody> {
  const email = emailValue();
  const password = passwordValue();
  const noFields: ActionBody = { fields: {}, required: [] };

  return {
    create: { fields: { email, promo: promoValue() }, required: ['email'] },
    confirm: { fields: { token: tokenValue('token.confirm'), password }, required: ['token', 'password'] },
    login: { fields: { username: email, password }, required: ['username', 'password'] },
    logout: noFields,
    check_login: noFields,
    check_login_with_return_uuid: { fields: { username: email, password }, required: [] },
    request_password_reset: { fields: { email }, required: ['email'] },
    reset_password: { fields: { token: tokenValue('token.reset'), password }, required: ['token', 'password'] },
    change_password: { fields: { old_password: password, new_password: password }, required: ['old_password', 'new_password'] },
    change_email: { fields: { email, password }, required: ['email', 'password'] },
    confirm_email: { fields: { token: tokenValue('token.email') }, required: ['token'] },
    delete_account: { fields: { password }, required: ['password'] },
    end_others: noFields,
  };
}

type Mutation =
  | { kind: 'drop'; key: string }
  | { kind: 'add'; key: string; value: JsonWithRefs }
  | { kind: 'set'; key: string; value: JsonWithRefs }
  | { kind: 'wrap' }
  | { kind: 'replace'; value: JsonWithRefs }
  | { kind: 'edit'; edit: TextEdit };

function textEdit(): fc.Arbitrary<TextEdit> {
  return fc.oneof(
    fc.record({ kind: fc.constant('append' as const), text: fc.oneof(fc.constantFrom(',', '}', ']', ' x', '\u0000', '{}', '\n\n'), anyText(10)) }),
    fc.record({ kind: fc.constant('cut' as const), keep: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({ kind: fc.constant('duplicate-first-key' as const), value: anyJson() }),
    fc.constant({ kind: 'byte-order-mark' as const }),
  );
}

function mutation(keys: string[]): fc.Arbitrary<Mutation> {
  const newKey = fc.oneof(headerText(12), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', 'EMAIL', 'password '));
  const value = fc.oneof(anyJson(), overlongText(), anyText(), emailValue(), passwordValue());
  const always: Array<fc.Arbitrary<Mutation>> = [
    fc.record({ kind: fc.constant('add' as const), key: newKey, value: anyJson() }),
    fc.constant({ kind: 'wrap' as const }),
    fc.record({ kind: fc.constant('replace' as const), value: anyJson() }),
    fc.record({ kind: fc.constant('edit' as const), edit: textEdit() }),
  ];
  if (keys.length === 0) return fc.oneof(...always);

  const key = fc.constantFrom(...keys);
  return fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), key }),
    fc.record({ kind: fc.constant('set' as const), key, value }),
    fc.record({ kind: fc.constant('set' as const), key, value }),
    ...always,
  );
}

function mutate(body: Record<string, JsonWithRefs>, change: Mutation): BodySpec {
  const copy = copyObject(body);
  switch (change.kind) {
    case 'drop':
      delete copy[change.key];
      return { kind: 'json', value: copy, edit: { kind: 'none' } };
    case 'add':
    case 'set':
      // defineProperty, because assigning `__proto__` would set the prototype instead of adding a key.
      Object.defineProperty(copy, change.key, { value: change.value, enumerable: true, configurable: true, writable: true });
      return { kind: 'json', value: copy, edit: { kind: 'none' } };
    case 'wrap':
      return { kind: 'json', value: [copy], edit: { kind: 'none' } };
    case 'replace':
      return { kind: 'json', value: change.value, edit: { kind: 'none' } };
    case 'edit':
      return { kind: 'json', value: copy, edit: change.edit };
  }
}

function copyObject(body: Record<string, JsonWithRefs>): Record<string, JsonWithRefs> {
  const copy: Record<string, JsonWithRefs> = {};
  for (const [key, value] of Object.entries(body)) {
    Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true });
  }
  return copy;
}

/** Generates bodies of any kind: none, random JSON, random bytes and text, deep nesting, over the limit, known traps. */
export function anyBody(): fc.Arbitrary<BodySpec> {
  const traps = [
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '{"email":"\\ud800"}',
    '"\\udfff"',
    '{"a":1,}',
    'null',
    'NaN',
    '1e999999',
    '{"email":"a@example.com","email":"b@example.com"}',
    '\u0000',
    '{"email":',
  ];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: 'text', text: '' }) },
    { weight: 3, arbitrary: anyJson().map((value): BodySpec => ({ kind: 'json', value, edit: { kind: 'none' } })) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes): BodySpec => ({ kind: 'bytes', bytes })) },
    { weight: 2, arbitrary: anyText(100).map((text): BodySpec => ({ kind: 'text', text })) },
    { weight: 2, arbitrary: fc.constantFrom(...traps).map((text): BodySpec => ({ kind: 'text', text })) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('nested' as const), depth: fc.integer({ min: 1, max: 40_000 }), opener: fc.constantFrom('[' as const, '{"a":' as const) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('oversized' as const), extraBytes: fc.integer({ min: 1, max: 4096 }) }) },
    // `{"email":"<0xff>"}`: a JSON text that is not valid UTF-8.
    { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: 'bytes', bytes: Uint8Array.from([0x7b, 0x22, 0x65, 0x6d, 0x61, 0x69, 0x6c, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]) }) },
  );
}

/** Generates a valid body of the given fields, that body mutated, or any body at all. */
export function bodyOf(shape: ActionBody): fc.Arbitrary<BodySpec> {
  const valid = fc.record(shape.fields, { requiredKeys: shape.required }) as fc.Arbitrary<Record<string, JsonWithRefs>>;
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((value): BodySpec => ({ kind: 'json', value, edit: { kind: 'none' } })) },
    { weight: 4, arbitrary: fc.tuple(valid, mutation(Object.keys(shape.fields))).map(([value, change]) => mutate(value, change)) },
    { weight: 1, arbitrary: anyBody() },
  );
}

function profileValue(field: ProfileField): fc.Arbitrary<JsonWithRefs> {
  const wrongType = anyJson();
  switch (field.type) {
    case 'string': {
      const limit = field.maxLength ?? 255;
      return fc.oneof(fc.string({ maxLength: Math.min(limit, 20) }), fc.string({ minLength: limit, maxLength: limit + 2 }), fc.constantFrom('GB', 'gb', 'XX', ''), anyText(), wrongType);
    }
    case 'boolean':
      return fc.oneof(fc.boolean(), wrongType);
    case 'decimal':
      return fc.oneof(fc.constantFrom('26.73', '0', '-1', '1e3', 'abc', '', '0.000000000000000000001', '99999999999999999999'), fc.double().map(String), wrongType);
    case 'dict':
      return fc.oneof(fc.dictionary(headerText(10), fc.string({ maxLength: 20 }), { maxKeys: 5 }), wrongType);
    case 'datetime':
      return fc.oneof(fc.constantFrom('2010-11-10T03:07:43', 'yesterday'), wrongType);
  }
}

/** Returns the fields of a valid `PUT /api/2.0/profile/` body, every one optional. */
export function profileBody(): ActionBody {
  const fields = Object.fromEntries(Object.entries(PROFILE_FIELDS).map(([name, field]) => [name, profileValue(field)]));
  return { fields, required: [] };
}

/** Serialises a body spec with fixture values filled in; undefined means no body at all. */
export function bodyBytes(body: BodySpec, resolve: (value: FixtureRef) => string, bodyLimitBytes: number): Buffer | undefined {
  switch (body.kind) {
    case 'none':
      return undefined;
    case 'text':
      return Buffer.from(body.text, 'utf8');
    case 'bytes':
      return Buffer.from(body.bytes);
    case 'nested': {
      const closer = body.opener === '[' ? ']' : '}';
      return Buffer.from(`${body.opener.repeat(body.depth)}0${closer.repeat(body.depth)}`, 'utf8');
    }
    case 'oversized':
      return Buffer.from(`{"email":"${'a'.repeat(bodyLimitBytes + body.extraBytes)}"}`, 'utf8');
    case 'json': {
      const value = resolveJson(body.value, resolve);
      return Buffer.from(editJson(JSON.stringify(value) ?? 'null', value, body.edit, resolve), 'utf8');
    }
  }
}

function resolveJson(value: JsonWithRefs, resolve: (value: FixtureRef) => string): unknown {
  if (value instanceof FixtureRef) return resolve(value);
  if (Array.isArray(value)) return value.map((member) => resolveJson(member, resolve));
  if (typeof value !== 'object' || value === null) return value;

  const resolved: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    Object.defineProperty(resolved, key, { value: resolveJson(member, resolve), enumerable: true, configurable: true, writable: true });
  }
  return resolved;
}

function editJson(text: string, value: unknown, edit: TextEdit, resolve: (value: FixtureRef) => string): string {
  switch (edit.kind) {
    case 'none':
      return text;
    case 'append':
      return text + edit.text;
    case 'cut':
      return text.slice(0, Math.floor(text.length * edit.keep));
    case 'byte-order-mark':
      return `\uFEFF${text}`;
    case 'duplicate-first-key': {
      const first = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value)[0] : undefined;
      if (first === undefined) return text;
      return `{${JSON.stringify(first)}:${JSON.stringify(resolveJson(edit.value, resolve))},${text.slice(1)}`;
    }
  }
}
