import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

import { validationErrors } from './api-error.js';

// Types are never coerced and unknown fields are never dropped silently: a wrong body is an error.
const ajv = new Ajv({ allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: true });

// A body with thousands of unknown keys gets an answer of bounded size.
export const MAX_REPORTED_ERRORS = 20;
const MAX_NAME_LENGTH = 64;

/** JSON Schema of a request body: an object with the listed fields. */
export interface BodySchema {
  type: 'object';
  properties: Record<string, object>;
  required?: string[];
  additionalProperties: boolean;
}

/** Compiles a body schema into a function that returns the body typed, or throws a CloudSigma 400. */
export function bodyValidator<T>(schema: BodySchema): (body: unknown) => T {
  const validate: ValidateFunction = ajv.compile(schema);

  return (body) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw validationErrors([{ point: null, message: 'request body must be a JSON object' }]);
    }
    if (!validate(body)) throw validationErrors((validate.errors ?? []).slice(0, MAX_REPORTED_ERRORS).map(describe));
    return body as T;
  };
}

function describe(error: ErrorObject): { point: string | null; message: string } {
  const field = error.instancePath.split('/').filter(Boolean).join('.') || null;

  switch (error.keyword) {
    case 'required': {
      const missing = String(error.params.missingProperty).slice(0, MAX_NAME_LENGTH);
      return { point: missing, message: `${missing} is required` };
    }
    case 'additionalProperties': {
      const unknown = String(error.params.additionalProperty).slice(0, MAX_NAME_LENGTH);
      return { point: unknown, message: `${unknown} is not a known field` };
    }
    case 'type': {
      const types = ([] as string[]).concat(error.params.type as string | string[]);
      return { point: field, message: `${field ?? 'value'} must be ${types.map(article).join(' or ')}` };
    }
    case 'maxLength':
      return { point: field, message: `${field} must be at most ${String(error.params.limit)} characters long` };
    case 'minLength':
      return { point: field, message: `${field} must be at least ${String(error.params.limit)} characters long` };
    default:
      return { point: field, message: `${field ?? 'request body'} is invalid: ${error.message ?? error.keyword}` };
  }
}

function article(type: string): string {
  const names: Record<string, string> = {
    string: 'a string',
    null: 'null',
    object: 'an object',
    array: 'an array',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
  };
  return names[type] ?? type;
}
