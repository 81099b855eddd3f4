import http from 'node:http';
import zlib from 'node:zlib';

/** A request exactly as it goes on the wire: any method token, any request target, headers as given. */
export interface RawRequest {
  method: string;
  /** Path and query string, sent without further encoding. */
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body after gzip decoding, when the response was gzip-encoded. */
  body: Buffer;
}

/**
 * Sends one request with node:http, which, unlike fetch, allows any method token and leaves the target
 * alone. Rejects when no complete response arrives within `timeoutMs`, or when a gzip body does not decode.
 */
export function sendRaw(baseUrl: string, request: RawRequest, agent: http.Agent, timeoutMs = 10_000): Promise<RawResponse> {
  const url = new URL(baseUrl);
  // Node's client frames a body of HEAD without Content-Length, so the server would read it as the next request.
  const headers = request.body === undefined ? request.headers : { ...request.headers, 'content-length': String(request.body.length) };

  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      { host: url.hostname, port: url.port, method: request.method, path: request.target, headers, agent },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          try {
            const raw = Buffer.concat(chunks);
            const gzipped = incoming.headers['content-encoding'] === 'gzip' && raw.length > 0;
            resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: gzipped ? zlib.gunzipSync(raw) : raw });
          } catch (error) {
            reject(new Error(`response body is not valid gzip: ${(error as Error).message}`));
          }
        });
      },
    );

    outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no response within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}
