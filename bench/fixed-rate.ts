// The open-loop load generator: requests go out on a fixed schedule, whatever the responses do.
//
// In a closed loop (autocannon), a connection sends its next request only when the last response has
// arrived, so a stall of the server delays the requests behind it. The latencies they would have had are
// never measured, which is called coordinated omission. Here, request n is due at start + n / rate and
// goes out over an idle keep-alive socket, or a new one when none is idle. Its latency runs from that due
// time to the end of its response, so a request that the client itself sent late, because its thread was
// busy, counts that delay too.
import http from 'node:http';

import { monotonicMs, startClock } from './fixed-rate-clock.js';
import { latencyPercentiles, Samples } from './latency-samples.js';
import type { LoadResult, LoadSpec } from './load.js';

/** Time without any byte from the server after which a request counts as timed out, as in autocannon 8. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Outcome counters of one run. */
interface Tally {
  responses: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statuses: Record<string, number>;
  /** When the last request ended, on the monotonic clock. */
  lastEndMs: number;
}

/**
 * Sends `spec` at `rate` requests per second for `spec.durationSeconds` and waits for every response, or
 * its error or timeout. `spec.connections` does not apply: every request in flight has a socket of its
 * own, so no request waits in the client for a socket.
 */
export async function runFixedRate(spec: LoadSpec, rate: number): Promise<LoadResult> {
  const intervalMs = 1000 / rate;
  const count = Math.max(1, Math.round(rate * spec.durationSeconds));
  const target = new URL(`${spec.url}${spec.path}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

  const latencies = new Samples();
  const sendLags = new Samples();
  const tally: Tally = { responses: 0, errors: 0, timeouts: 0, non2xx: 0, statuses: {}, lastEndMs: 0 };
  let next = 0;
  let inFlight = 0;

  let finish: (error?: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  const settleOne = () => {
    inFlight -= 1;
    if (next === count && inFlight === 0) finish();
  };

  const send = (sequence: number, dueMs: number) => {
    const changes = spec.requestFor?.(sequence) ?? {};
    const body = changes.body ?? spec.body;
    const headers: Record<string, string> = { ...spec.headers, ...changes.headers };
    if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));

    inFlight += 1;
    sendLags.push(monotonicMs() - dueMs);
    let settled = false;
    const settle = (outcome: { status: number } | { timedOut: boolean }) => {
      if (settled) return;
      settled = true;
      const endMs = monotonicMs();
      tally.lastEndMs = Math.max(tally.lastEndMs, endMs);
      if ('status' in outcome) {
        latencies.push(endMs - dueMs);
        tally.responses += 1;
        tally.statuses[String(outcome.status)] = (tally.statuses[String(outcome.status)] ?? 0) + 1;
        if (outcome.status < 200 || outcome.status > 299) tally.non2xx += 1;
      } else {
        tally.errors += 1;
        if (outcome.timedOut) tally.timeouts += 1;
      }
      settleOne();
    };

    let timedOut = false;
    const request = http.request(target, { method: spec.method, headers, agent }, (response) => {
      response.on('error', () => settle({ timedOut }));
      response.on('end', () => settle({ status: response.statusCode ?? 0 }));
      response.resume();
    });
    request.setTimeout(REQUEST_TIMEOUT_MS, () => {
      timedOut = true;
      request.destroy();
    });
    request.on('error', () => settle({ timedOut }));
    // Every request ends with close, after the response's end or the error, so none stays unsettled.
    request.on('close', () => settle({ timedOut }));
    request.end(body);
  };

  // Sends every request whose time has come, so a tick that arrives late also sends the ones it missed.
  const sendDue = (startMs: number) => {
    const now = monotonicMs();
    while (next < count && startMs + next * intervalMs <= now) {
      const sequence = next;
      next += 1;
      send(sequence, startMs + sequence * intervalMs);
    }
  };

  const clock = await startClock(intervalMs, count, sendDue, (error) => finish(error));
  try {
    await finished;
  } finally {
    await clock.stop();
    agent.destroy();
  }

  // The schedule spans count * intervalMs, and responses that end after it stretch the run.
  const seconds = Math.max(tally.lastEndMs - clock.startMs, count * intervalMs) / 1000;
  const sendLag = latencyPercentiles(sendLags);
  return {
    requests: tally.responses,
    seconds,
    requestsPerSecond: tally.responses / seconds,
    ...latencyPercentiles(latencies),
    errors: tally.errors,
    timeouts: tally.timeouts,
    non2xx: tally.non2xx,
    statuses: tally.statuses,
    scheduledRate: rate,
    sendLag: { p99Ms: sendLag.p99Ms, maxMs: sendLag.maxMs },
  };
}
