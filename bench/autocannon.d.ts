// Types for the part of autocannon 8's programmatic API that the benchmarks use; the package ships none.
// The shapes follow autocannon's README ("API" and "Results").
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface RequestSpec {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
    }

    interface Request extends RequestSpec {
      /** Returns the request to send, changed or not; a falsy value restarts the request sequence. */
      setupRequest?: (request: RequestSpec, context: Record<string, unknown>) => RequestSpec | null;
    }

    interface Options extends RequestSpec {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      /** Seconds to wait for a response before the request counts as a timeout. */
      timeout?: number;
      pipelining?: number;
      requests?: Request[];
      /** Replaces every `[<id>]` in the body with an id that no other request of the run has. */
      idReplacement?: boolean;
      title?: string;
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p99: number;
    }

    interface Result {
      title?: string;
      /** Seconds. */
      duration: number;
      requests: Histogram & { sent: number };
      latency: Histogram;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      statusCodeStats: Record<string, { count: number }>;
    }

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
      /** `responseTime` is in milliseconds, with sub-millisecond precision. */
      on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): this;
      on(event: 'reqError', listener: (error: Error) => void): this;
      on(event: string, listener: (...args: unknown[]) => void): this;
    }
  }

  function autocannon(options: autocannon.Options): autocannon.Instance;

  export = autocannon;
}
