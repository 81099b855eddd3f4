// Measures the raw argon2id rate of this machine with the server's hash settings: it keeps
// BENCH_ARGON2_CONCURRENCY verifications in flight for BENCH_ARGON2_SECONDS, using the argon2 package
// directly, as the server's PasswordHasher does, and prints one JSON line (Argon2Rate) on stdout.
// bench/bench.ts runs it as a child process with the server's environment (HASH_MEMORY_KIB, HASH_TIME_COST,
// HASH_PARALLELISM, UV_THREADPOOL_SIZE), so that `login` can be read against it.
import { once } from 'node:events';

import argon2 from 'argon2';

import { loadConfig } from '../src/config.js';
import { type Argon2Rate, MEASURING } from './argon2-baseline.js';
import { wholeNumberSetting } from './settings.js';

const PASSWORD = 'a password of ordinary length';

function percentile(sorted: number[], rank: number): number {
  return sorted[Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const { hash: settings } = loadConfig();
  const concurrency = wholeNumberSetting('BENCH_ARGON2_CONCURRENCY', 50);
  const seconds = wholeNumberSetting('BENCH_ARGON2_SECONDS', 10);

  const hash = await argon2.hash(PASSWORD, {
    type: argon2.argon2id,
    memoryCost: settings.memoryKib,
    timeCost: settings.timeCost,
    parallelism: settings.parallelism,
  });

  // A short warm-up, so that the thread pool and the allocator are in their steady state.
  await Promise.all(Array.from({ length: concurrency }, () => argon2.verify(hash, PASSWORD)));
  // Tells the parent that the measured part starts, so that it reads this process's CPU time from here.
  console.log(MEASURING);

  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let lastDone = started;

  const worker = async () => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      if (!(await argon2.verify(hash, PASSWORD))) throw new Error('argon2.verify rejected the password it hashed');
      lastDone = performance.now();
      latencies.push(lastDone - begun);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  const elapsed = (lastDone - started) / 1000;
  latencies.sort((left, right) => left - right);
  const rate: Argon2Rate = {
    verifications: latencies.length,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    memoryKib: settings.memoryKib,
    timeCost: settings.timeCost,
    parallelism: settings.parallelism,
    concurrency,
  };
  console.log(JSON.stringify(rate));

  // The parent reads this process's CPU time from /proc after the result, so the process waits until the
  // parent closes its standard input.
  process.stdin.resume();
  await once(process.stdin, 'end');
}

await main();
