/** Deepest nesting of objects and arrays accepted in a request body; the API's bodies are at most two levels deep. */
export const MAX_JSON_DEPTH = 32;

/** Reason for rejecting a body that is valid JSON. `path` is the dotted path of the repeated key. */
export type JsonStructureProblem = { kind: 'duplicate-key'; path: string } | { kind: 'too-deep' };

interface Frame {
  /** Keys seen so far in an object, or null for an array. */
  keys: Set<string> | null;
  path: string;
  /** In an object: whether the next string is a key. */
  expectsKey: boolean;
  /** In an array: the index of the current element. */
  index: number;
  /** In an object: the key of the current member. */
  key: string;
}

/**
 * Scans JSON text that JSON.parse has already accepted for what JSON.parse cannot report: a key repeated in
 * one object (JSON.parse keeps only the last value) and nesting deeper than MAX_JSON_DEPTH. Keys are compared
 * after unescaping, so `"a"` and `"\u0061"` are the same key.
 *
 * One linear pass without recursion, so that a deeply nested body cannot overflow the stack. A tokenizer
 * library would allocate an object per token, which is many times the size of the body.
 */
export function findJsonStructureProblem(text: string): JsonStructureProblem | null {
  const frames: Frame[] = [];
  let position = 0;

  while (position < text.length) {
    const character = text[position];
    const frame = frames[frames.length - 1];

    if (character === '"') {
      const end = stringEnd(text, position);
      if (frame?.keys && frame.expectsKey) {
        const literal = text.slice(position, end + 1);
        const key = literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
        if (frame.keys.has(key)) return { kind: 'duplicate-key', path: childPath(frame.path, key) };

        frame.keys.add(key);
        frame.key = key;
        frame.expectsKey = false;
      }
      position = end + 1;
      continue;
    }

    if (character === '{' || character === '[') {
      if (frames.length === MAX_JSON_DEPTH) return { kind: 'too-deep' };

      const path = frame === undefined ? '' : childPath(frame.path, frame.keys ? frame.key : String(frame.index));
      frames.push({ keys: character === '{' ? new Set() : null, path, expectsKey: true, index: 0, key: '' });
    } else if (character === '}' || character === ']') {
      frames.pop();
    } else if (character === ',' && frame) {
      frame.expectsKey = true;
      frame.index += 1;
    }
    position += 1;
  }
  return null;
}

/** Returns the index of the quote that closes the string starting at `start`, skipping escaped quotes. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);

  // The text passed JSON.parse, so every string is closed.
  return end === -1 ? text.length - 1 : end;
}

/** Returns whether the character at `index` follows an odd number of backslashes. */
function isEscaped(text: string, index: number): boolean {
  let backslashes = 0;
  while (text[index - 1 - backslashes] === '\\') backslashes += 1;
  return backslashes % 2 === 1;
}

function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
