import { XMLParser, XMLValidator } from 'fast-xml-parser';

import type { RawResponse } from './raw-http.js';

/** The `error_type` values of CloudSigma API 2.0. */
export const ERROR_TYPES = ['validation', 'notexist', 'permission', 'backend', 'database', 'concurrency', 'billing', 'payment'];

const ENTRY_KEYS = 'error_message,error_point,error_type';

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  isArray: (name, path) => path === 'errors.error',
});

/**
 * Returns why a response body is not a CloudSigma error list, or null when it is one: a non-empty list of
 * objects with exactly `error_type` (a documented type), `error_message` (a non-empty string) and
 * `error_point` (a string or null). JSON and the server's XML form are both read.
 */
export function errorListProblem(response: RawResponse): string | null {
  const type = String(response.headers['content-type'] ?? '');
  const text = response.body.toString('utf8');

  if (/^application\/json\b/.test(type)) return jsonListProblem(text);
  if (/^(application|text)\/xml\b/.test(type)) return xmlListProblem(text);
  return `Content-Type is "${type}", not JSON or XML`;
}

function jsonListProblem(text: string): string | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not valid JSON';
  }
  if (!Array.isArray(body) || body.length === 0) return 'body is not a non-empty JSON list';

  for (const entry of body) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'a list member is not an object';
    const problem = entryProblem(entry as Record<string, unknown>);
    if (problem) return problem;
  }
  return null;
}

function xmlListProblem(text: string): string | null {
  if (XMLValidator.validate(text) !== true) return 'body is not well-formed XML';

  const document = xmlParser.parse(text) as { errors?: { error?: Array<Record<string, unknown>> } };
  const entries = document.errors?.error;
  if (!Array.isArray(entries) || entries.length === 0) return 'XML body is not <errors> with <error> elements';

  for (const element of entries) {
    const entry: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(element)) {
      if (name.startsWith('@_')) continue;
      // An element with type="null" is empty; the parser reads it as an object of its attributes.
      const isNull = typeof value === 'object' && value !== null && (value as Record<string, unknown>)['@_type'] === 'null';
      entry[name] = isNull ? null : value;
    }
    const problem = entryProblem(entry);
    if (problem) return problem;
  }
  return null;
}

function entryProblem(entry: Record<string, unknown>): string | null {
  const keys = Object.keys(entry).sort().join(',');
  if (keys !== ENTRY_KEYS) return `an entry has the keys ${keys}, not ${ENTRY_KEYS}`;

  if (typeof entry.error_type !== 'string' || !ERROR_TYPES.includes(entry.error_type)) {
    return `error_type ${JSON.stringify(entry.error_type)} is not a CloudSigma error type`;
  }
  if (typeof entry.error_message !== 'string' || entry.error_message === '') return 'error_message is not a non-empty string';
  if (entry.error_point !== null && typeof entry.error_point !== 'string') return 'error_point is neither a string nor null';
  return null;
}
