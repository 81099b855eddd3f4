// One load run, with autocannon in a closed loop or with bench/fixed-rate.ts at a fixed rate, and the
// numbers the report keeps of it.
import autocannon from 'autocannon';

import { runFixedRate } from './fixed-rate.js';
import { type LatencyPercentiles, latencyPercentiles, Samples } from './latency-samples.js';
import { machineBusySeconds, type ProcessUsage, startUsage, waitUntilIdle } from './process-stats.js';

/**
 * The request of one run. Without `rate`, every connection sends it again as soon as the response to the
 * last one arrives, which is a closed loop. With `rate`, it goes out on a fixed schedule, an open loop.
 */
export interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Changes for the n-th request of the run (from 0): added headers, such as a rotating cookie, or another body. */
  requestFor?: (sequence: number) => { headers?: Record<string, string>; body?: string };
  /** Concurrent connections of a closed loop. */
  connections: number;
  /** Requests per second of an open loop, sent whatever the responses do. */
  rate?: number;
  durationSeconds: number;
}

/** The numbers of one run that the report keeps. Latencies are in milliseconds, over every response. */
export interface LoadResult extends LatencyPercentiles {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Responses per status code, such as { "200": 1234 }. */
  statuses: Record<string, number>;
  /** Requests per second of the schedule of an open loop. Null for a closed loop. */
  scheduledRate: number | null;
  /**
   * How late the client sent requests behind their schedule, in milliseconds, which the latencies include.
   * Null for a closed loop.
   */
  sendLag: { p99Ms: number; maxMs: number } | null;
}

/** A load result with the CPU time and memory that it cost. */
export interface MeasuredRun extends LoadResult {
  server: ProcessUsage;
  /**
   * Server CPU time over the run divided by the responses of every load that ran at the same time (both,
   * during a storm), in microseconds.
   */
  serverCpuPerRequestUs: number;
  /** CPU time of the benchmark process, which runs the load generators, in seconds. */
  clientCpuSeconds: number;
  /**
   * CPU time of every other process of the machine, in seconds: PostgreSQL's backends when the server uses
   * PostgreSQL, and whatever else ran at the same time.
   */
  otherCpuSeconds: number;
  /** Whether the server had finished the work of the warm-up before the measured run started. */
  startedIdle: boolean;
}

/** Runs `spec` at its fixed rate, or with autocannon when it has none, and returns what happened. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return spec.rate === undefined ? runClosedLoop(spec) : runFixedRate(spec, spec.rate);
}

/** Runs autocannon with `spec` and returns what happened. */
async function runClosedLoop(spec: LoadSpec): Promise<LoadResult> {
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
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([status, stats]) => [status, Number(stats.count)]));

  return {
    requests: result.requests.total,
    seconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    ...latencyPercentiles(latencies),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
    scheduledRate: null,
    sendLag: null,
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
  const responses = results.reduce((sum, result) => sum + result.requests, 0);
  const serverCpuPerRequestUs = responses === 0 ? Number.NaN : (server.cpuSeconds * 1e6) / responses;
  return results.map((result) => ({ ...result, server, serverCpuPerRequestUs, clientCpuSeconds, otherCpuSeconds, startedIdle }));
}
