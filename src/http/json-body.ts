import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';

import { validationError } from './api-error.js';

/**
 * Parses `application/json` bodies (with or without a charset): an empty body is `{}`, malformed JSON and
 * keys that could poison prototypes (`__proto__`, `constructor.prototype`) are 400 validation errors.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();

  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') {
      done(null, {});
      return;
    }

    try {
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (error) {
      const reason =
        error instanceof SyntaxError ? 'request body is not valid JSON' : 'request body contains a forbidden key such as __proto__';
      done(validationError(null, reason), undefined);
    }
  });
}
