import { validationErrors } from './api-error.js';
import { MAX_REPORTED_ERRORS } from './body-schema.js';

// Unicode category Cc: the C0 controls U+0000 to U+001F (NUL, tab and line feed included), DEL and the C1
// controls U+0080 to U+009F.
const CONTROL_CHARACTER = /\p{Cc}/u;

// Fields that contain an email address, which is trimmed before use, so whitespace around it is never stored.
const TRIMMED_FIELDS = new Set(['email', 'username']);

/**
 * Throws a 400 with one entry per string field of `body` that contains a control character. Every field of
 * the account actions is an address, a token, a code or a password, none of them free text, so tab and line
 * feed are rejected too, except around an address, where trimming removes them.
 */
export function rejectControlCharacters(body: unknown): void {
  const entries: Array<{ point: string | null; message: string }> = [];
  collect(body, '', entries);
  if (entries.length > 0) throw validationErrors(entries.slice(0, MAX_REPORTED_ERRORS));
}

function collect(value: unknown, path: string, entries: Array<{ point: string | null; message: string }>): void {
  if (typeof value === 'string') {
    const used = TRIMMED_FIELDS.has(path) ? value.trim() : value;
    const found = CONTROL_CHARACTER.exec(used)?.[0];
    if (found === undefined) return;

    const field = path === '' ? 'value' : path;
    entries.push({ point: path === '' ? null : path, message: `${field} contains the control character ${codePoint(found)}; remove it` });
    return;
  }
  if (typeof value !== 'object' || value === null) return;

  // The body parser limits nesting, so this recursion is shallow.
  for (const [key, entry] of Object.entries(value)) collect(entry, path === '' ? key : `${path}.${key}`, entries);
}

/** Formats a character as U+XXXX. */
export function codePoint(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}
