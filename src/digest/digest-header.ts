/**
 * Parses the parameters of an `Authorization: Digest ...` header (RFC 7616): `name=token` or
 * `name="quoted string"` pairs separated by commas, where a quoted string may hold commas, `=` and
 * backslash-escaped characters. Returns null for anything malformed, including a repeated parameter.
 */
export function parseDigestParams(header: string): Map<string, string> | null {
  const match = /^Digest\s+/i.exec(header);
  if (!match) return null;

  const params = new Map<string, string>();
  let rest = header.slice(match[0].length);

  while (rest.length > 0) {
    const name = /^\s*([A-Za-z0-9_-]+)\s*=\s*/.exec(rest);
    if (!name?.[1]) return null;
    rest = rest.slice(name[0].length);

    let value: string;
    if (rest.startsWith('"')) {
      const quoted = readQuoted(rest);
      if (!quoted) return null;
      value = quoted.value;
      rest = rest.slice(quoted.length);
    } else {
      const token = /^[^\s,"]+/.exec(rest);
      if (!token) return null;
      value = token[0];
      rest = rest.slice(token[0].length);
    }

    const key = name[1].toLowerCase();
    if (params.has(key)) return null;
    params.set(key, value);

    const separator = /^\s*(,\s*|$)/.exec(rest);
    if (!separator) return null;
    rest = rest.slice(separator[0].length);
  }
  return params;
}

function readQuoted(input: string): { value: string; length: number } | null {
  let value = '';
  for (let index = 1; index < input.length; index += 1) {
    const character = input[index];
    if (character === '\\') {
      index += 1;
      if (index >= input.length) return null;
      value += input[index];
    } else if (character === '"') {
      return { value, length: index + 1 };
    } else {
      value += character;
    }
  }
  return null;
}

/** Quotes a value for a challenge parameter, escaping backslashes and double quotes. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
}
