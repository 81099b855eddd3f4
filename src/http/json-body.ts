import diagnosticsChannel from 'node:diagnostics_channel';

import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';

import { validationError } from './api-error.js';
import { findJsonStructureProblem, MAX_JSON_DEPTH } from './json-structure.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Diagnostics channel that receives `{ request }` each time a request body is parsed, for tests and tracing. */
export const BODY_PARSE_CHANNEL = 'sigma-accounts:json-body-parse';
const bodyParses = diagnosticsChannel.channel(BODY_PARSE_CHANNEL);

/**
 * Parses `application/json` bodies: an empty body is `{}`. These are 400 validation errors, so no input is
 * silently altered: invalid UTF-8, a charset other than UTF-8, malformed JSON, keys that could poison
 * prototypes (`__proto__`, `constructor.prototype`), a key repeated in one object, nesting deeper than
 * MAX_JSON_DEPTH and strings with lone surrogates. Fastify runs the parser at most once per request.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();

  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if (bodyParses.hasSubscribers) bodyParses.publish({ request });

    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && !['utf-8', 'utf8'].includes(charset.toLowerCase())) {
      done(validationError(null, `request body must be UTF-8; charset ${charset.slice(0, 32)} is not supported`), undefined);
      return;
    }

    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(validationError(null, 'request body is not valid UTF-8'), undefined);
      return;
    }
    if (text.trim() === '') {
      done(null, {});
      return;
    }

    let value: unknown;
    try {
      value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (error) {
      // secure-json-parse reports a forbidden key as a SyntaxError too, so its message separates the two cases.
      const forbidden = error instanceof Error && /forbidden|prototype/i.test(error.message);
      const reason = forbidden ? 'request body contains a forbidden key such as __proto__' : 'request body is not valid JSON';
      done(validationError(null, reason), undefined);
      return;
    }

    const structureProblem = findJsonStructureProblem(text);
    if (structureProblem?.kind === 'duplicate-key') {
      const point = structureProblem.path.slice(0, 64);
      done(validationError(point, `request body contains the key ${JSON.stringify(point)} more than once; send each key once`), undefined);
      return;
    }
    if (structureProblem?.kind === 'too-deep') {
      done(validationError(null, `request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`), undefined);
      return;
    }

    const malformed = malformedPath(value, '');
    if (malformed !== undefined) {
      const point = malformed === '' ? null : malformed.slice(0, 64);
      const where = point === null ? 'request body' : point;
      done(validationError(point, `${where} contains an unpaired UTF-16 surrogate escape, which is not valid Unicode`), undefined);
      return;
    }
    done(null, value);
  });
}

/**
 * Returns the dotted path of the first string (or key) in a parsed JSON value that is not well-formed
 * Unicode, '' for the body itself, or undefined when every string is well-formed.
 */
function malformedPath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (typeof value !== 'object' || value === null) return undefined;

  for (const [key, entry] of Object.entries(value)) {
    const child = path === '' ? key : `${path}.${key}`;
    if (!key.isWellFormed()) return path;

    const found = malformedPath(entry, child);
    if (found !== undefined) return found;
  }
  return undefined;
}
