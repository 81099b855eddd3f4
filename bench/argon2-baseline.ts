// The raw argon2id rate that `login` is compared with, measured by bench/argon2-rate.ts in a child process
// so that it has a libuv thread pool and a CPU share of its own, as the server has.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { machineBusySeconds, type ProcessUsage, startUsage } from './process-stats.js';
import { REPO_ROOT } from './servers.js';

/** The result line of bench/argon2-rate.ts. */
export interface Argon2Rate {
  verifications: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  memoryKib: number;
  timeCost: number;
  parallelism: number;
  concurrency: number;
}

/** The line bench/argon2-rate.ts prints when its warm-up is over and the measured part starts. */
export const MEASURING = 'measuring';

/** The rate, with the CPU time and peak memory of the measuring process and the CPU time of all others. */
export interface Argon2Result {
  rate: Argon2Rate;
  usage: ProcessUsage;
  otherCpuSeconds: number;
}

/** Runs bench/argon2-rate.ts with the server's environment `serverEnv` and returns what it measured. */
export async function measureArgon2Rate(serverEnv: Record<string, string>, seconds: number, concurrency: number): Promise<Argon2Result> {
  const env = { PATH: process.env.PATH ?? '', ...serverEnv, BENCH_ARGON2_SECONDS: String(seconds), BENCH_ARGON2_CONCURRENCY: String(concurrency) };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'argon2-rate.ts')], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (child.pid === undefined) throw new Error('bench/argon2-rate.ts could not be started');

  let stopUsage: (() => ProcessUsage) | null = null;
  let machineBefore = 0;
  let result: Argon2Result | null = null;
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === MEASURING) {
      stopUsage = startUsage(child.pid);
      machineBefore = machineBusySeconds();
    } else if (line.startsWith('{') && stopUsage) {
      // The child waits for its standard input to close, so /proc still has it here.
      const machine = machineBusySeconds() - machineBefore;
      const usage = stopUsage();
      result = { rate: JSON.parse(line) as Argon2Rate, usage, otherCpuSeconds: Math.max(0, machine - usage.cpuSeconds) };
      child.stdin.end();
    }
  }

  const code = await exited;
  if (code !== 0 || result === null) throw new Error(`bench/argon2-rate.ts exited with code ${code} without a result`);
  return result;
}
