/** A response with its body read and its cookies parsed. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
  /** Set-Cookie headers by cookie name: the value and the attributes, lower-cased. */
  cookies: Record<string, { value: string; attributes: string }>;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Sent as is, without JSON encoding. */
  raw?: string | Buffer;
  cookies?: Record<string, string>;
  headers?: Record<string, string>;
  /** Aborts the request, for instance `AbortSignal.timeout(ms)` to fail a test instead of hanging it. */
  signal?: AbortSignal;
}

export async function request(url: string, options: RequestOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  let body: string | Buffer | undefined = options.raw;

  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  if (options.cookies) {
    headers.Cookie = Object.entries(options.cookies)
      .map(([name, value]) => `${name}=${value}`)
      .join('; ');
  }

  const response = await fetch(url, { method: options.method ?? 'POST', headers, body, redirect: 'manual', signal: options.signal });
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the test reads `text`.
  }

  const cookies: ApiResponse['cookies'] = {};
  for (const line of response.headers.getSetCookie()) {
    const [pair = '', ...attributes] = line.split(';');
    const at = pair.indexOf('=');
    cookies[pair.slice(0, at).trim()] = { value: pair.slice(at + 1).trim(), attributes: attributes.join(';').toLowerCase() };
  }

  return { status: response.status, headers: response.headers, text, body: parsed, cookies };
}

/** POSTs to `/api/2.0/accounts/action/?do=NAME`. */
export function action(baseUrl: string, name: string, options: RequestOptions = {}): Promise<ApiResponse> {
  return request(`${baseUrl}/api/2.0/accounts/action/?do=${encodeURIComponent(name)}`, { body: {}, ...options });
}

/** Returns the error points of a CloudSigma error list, after checking that the body is one. */
export function errorPoints(response: ApiResponse): Array<string | null> {
  return errorList(response).map((entry) => entry.error_point);
}

export interface ErrorEntry {
  error_type: string;
  error_message: string;
  error_point: string | null;
}

/** Returns the body as a CloudSigma error list, and throws when it has any other shape. */
export function errorList(response: ApiResponse): ErrorEntry[] {
  const body = response.body;
  const isList =
    Array.isArray(body) &&
    body.length > 0 &&
    body.every(
      (entry) =>
        typeof entry === 'object' &&
        entry !== null &&
        Object.keys(entry).sort().join(',') === 'error_message,error_point,error_type',
    );
  if (!isList) throw new Error(`expected a CloudSigma error list, got ${response.status} ${response.text.slice(0, 300)}`);
  return body as ErrorEntry[];
}
