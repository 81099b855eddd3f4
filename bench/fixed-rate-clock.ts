// The clock of the fixed-rate load generator: a worker thread that wakes the main thread at every
// scheduled send time. A setTimeout loop in the main thread wakes up to a millisecond late, because libuv
// keeps its loop time in whole milliseconds. At 1,000 sends per second on a busy two-core machine (Node.js
// 20.20), that put the median send 0.6 ms behind its schedule. This worker sleeps in Atomics.wait and posts
// a message that wakes the main loop at once, which put the median send 0.1 ms behind.
import { Worker } from 'node:worker_threads';

/** Milliseconds on the monotonic clock of process.hrtime, which every thread of the process shares. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

// Plain JavaScript, because tsx's loader does not reach worker threads on Node.js 20, so a .ts worker file
// would not load. The worker picks the start time itself, a millisecond after it is running, and posts it
// first. Then it posts the index of every send when its time has come, until it has posted `count` or the
// main thread sets the stop flag.
const CLOCK_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { intervalMs, count, stopFlag } = workerData;
const flag = new Int32Array(stopFlag);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const startMs = now() + 1;
parentPort.postMessage({ startMs });
for (let index = 0; index < count && Atomics.load(flag, 0) === 0; index += 1) {
  const dueMs = startMs + index * intervalMs;
  for (let wait = dueMs - now(); wait > 0 && Atomics.load(flag, 0) === 0; wait = dueMs - now()) {
    Atomics.wait(flag, 0, 0, wait);
  }
  parentPort.postMessage(index);
}
`;

/** A running clock: its start time on the monotonic clock, and how to stop it. */
export interface ScheduleClock {
  startMs: number;
  stop(): Promise<void>;
}

/**
 * Starts a clock that calls `onTick` with `startMs` at `startMs + index * intervalMs` for every index below
 * `count`, and returns once the start time is known. Ticks that arrive while the main thread is busy are
 * delivered late, one after another, so the caller should compare the time with its schedule on every
 * tick. `onError` receives an error of the worker, after which no tick comes.
 */
export async function startClock(intervalMs: number, count: number, onTick: (startMs: number) => void, onError: (error: Error) => void): Promise<ScheduleClock> {
  const stopFlag = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const worker = new Worker(CLOCK_SOURCE, { eval: true, workerData: { intervalMs, count, stopFlag } });

  const startMs = await new Promise<number>((resolve, reject) => {
    let start: number | null = null;
    worker.on('message', (message: number | { startMs: number }) => {
      if (typeof message !== 'number') {
        start = message.startMs;
        resolve(start);
      } else if (start !== null) {
        onTick(start);
      }
    });
    worker.on('error', (error) => (start === null ? reject(error) : onError(error)));
  });

  const stop = async () => {
    const flag = new Int32Array(stopFlag);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await worker.terminate();
  };
  return { startMs, stop };
}
