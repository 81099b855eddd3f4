// One load run with autocannon, and the numbers the report keeps of it.
import autocannon from 'autocannon';

import { machineBusySeconds, type ProcessUsage, startUsage, waitUntilIdle } from './process-stats.js';

/** The request of one run: every connection sends it again as soon as the response to the last one arrives. */
export interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Changes for the n-th request of the run (from 0): added headers, such as a rotating cookie, or another body. */
  requestFor?: (sequence: number) => { headers?: Record<string, string>; body?: string };
  connections: number;
  durationSeconds: number;
}

/** The numbers of one run that the report keeps. */
export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Milliseconds from sending a request to the end of its response, over every response. */
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Responses per status code, such as { "200": 1234 }. */
  statuses: Record<string, number>;
}

/** A load result with the CPU time and memory that it cost. */
export interface MeasuredRun extends LoadResult {
  server: ProcessUsage;
  /** CPU time of the benchmark process, which runs autocannon, in seconds. */
  clientCpuSeconds: number;
  /**
   * CPU time of every other process of the machine, in seconds: PostgreSQL's backends when the server uses
   * PostgreSQL, and whatever else ran at the same time.
   */
  otherCpuSeconds: number;
  /** Whether the server had finished the work of the warm-up before the measured run started. */
  startedIdle: boolean;
}

/** Growable list of latencies, kept as doubles so that a run of a million responses stays small. */
class Samples {
  private values = new Float64Array(65_536);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length] = value;
    this.length += 1;
  }

  /** Nearest-rank percentiles of the samples. */
  percentiles(ranks: number[]): number[] {
    const sorted = this.values.slice(0, this.length).sort();
    return ranks.map((rank) => sorted[Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1)] ?? Number.NaN);
  }
}

/** Runs autocannon with `spec` and returns what happened. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  let sequence = 0;
  const { requestFor } = spec;
  const request: autocannon.Request = requestFor
    ? {
        setupRequest: (current) => {
          const changes = requestFor(sequence++);
          return { ...current, ...changes, headers: { ...current.headers, ...changes.headers } };
        },
      }
    : {};

  const latencies = new Samples();
  const instance = autocannon({
    url: `${spec.url}${spec.path}`,
    method: spec.method,
    headers: spec.headers ?? {},
    ...(spec.body === undefined ? {} : { body: spec.body }),
    requests: [request],
    connections: spec.connections,
    duration: spec.durationSeconds,
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));

  const result = await instance;
  const [p50Ms = Number.NaN, p99Ms = Number.NaN] = latencies.percentiles([50, 99]);
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([status, stats]) => [status, Number(stats.count)]));

  return {
    requests: result.requests.total,
    seconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms,
    p99Ms,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
  };
}

/**
 * Runs the specs at the same time: first a warm-up of `warmupSeconds` that is not recorded, then the
 * measured runs. Before each, it waits until the processes `quiet` are idle. autocannon abandons the
 * requests in flight when it stops, and a server may go on hashing their passwords for seconds. Reads the
 * CPU time and peak memory of the server process tree `serverPid` over the measured runs. With several
 * specs, every result carries the usage of all of them together.
 */
export async function measureRuns(serverPid: number, specs: LoadSpec[], warmupSeconds: number, quiet: number[] = [serverPid]): Promise<MeasuredRun[]> {
  await waitUntilIdle(quiet);
  if (warmupSeconds > 0) {
    await Promise.all(specs.map((spec) => runLoad({ ...spec, durationSeconds: warmupSeconds })));
  }
  const startedIdle = await waitUntilIdle(quiet);

  const stopUsage = startUsage(serverPid);
  const clientBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  const results = await Promise.all(specs.map((spec) => runLoad(spec)));
  const machine = machineBusySeconds() - machineBefore;
  const client = process.cpuUsage(clientBefore);
  const server = stopUsage();

  const clientCpuSeconds = (client.user + client.system) / 1e6;
  const otherCpuSeconds = Math.max(0, machine - server.cpuSeconds - clientCpuSeconds);
  return results.map((result) => ({ ...result, server, clientCpuSeconds, otherCpuSeconds, startedIdle }));
}
