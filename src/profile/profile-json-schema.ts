import { META_LIMITS, PROFILE_FIELDS, type ProfileField } from './profile-fields.js';
import { DECIMAL } from './profile-service.js';

/**
 * Returns the JSON Schema of the profile, derived from the field table that PUT validates with. As the body
 * of a PUT, read-only fields are ignored and an unknown field is a 400; as a response, every field is present.
 */
export function profileJsonSchema(use: 'request' | 'response'): object {
  const properties = Object.fromEntries(Object.entries(PROFILE_FIELDS).map(([name, field]) => [name, fieldSchema(field)]));

  return {
    type: 'object',
    properties,
    ...(use === 'response' ? { required: Object.keys(PROFILE_FIELDS) } : {}),
    additionalProperties: false,
  };
}

function fieldSchema(field: ProfileField): object {
  const schema: Record<string, unknown> = { ...valueSchema(field), description: field.helpText };
  if (field.nullable) schema.type = [schema.type, 'null'];
  if (field.readonly) schema.readOnly = true;
  if (field.default !== undefined) schema.default = field.default;
  return schema;
}

function valueSchema(field: ProfileField): Record<string, unknown> {
  switch (field.type) {
    case 'boolean':
      return { type: 'boolean' };
    case 'datetime':
      return { type: 'string', format: 'date-time' };
    case 'decimal':
      // Stored values of read-only decimals are not checked against the pattern that PUT applies.
      return field.readonly ? { type: 'string' } : { type: 'string', pattern: DECIMAL.source };
    case 'dict':
      return {
        type: 'object',
        maxProperties: META_LIMITS.maxKeys,
        propertyNames: { minLength: 1, maxLength: META_LIMITS.maxKeyLength },
        additionalProperties: { type: 'string', maxLength: META_LIMITS.maxValueLength },
      };
    default:
      return field.maxLength === undefined ? { type: 'string' } : { type: 'string', maxLength: field.maxLength };
  }
}
