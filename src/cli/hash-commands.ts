import { performance } from 'node:perf_hooks';

import argon2 from 'argon2';

import type { HashSettings } from '../config.js';
import { type Command, CliError } from './command.js';
import { wholeNumber } from './account-commands.js';

/** The argon2id parameters that calibration chooses. */
type Argon2Parameters = Pick<HashSettings, 'memoryKib' | 'timeCost' | 'parallelism'>;

// OWASP's minimum for argon2id, and the memory steps tried above it.
const MIN_MEMORY_KIB = 19456;
const MEMORY_STEPS_KIB = [19456, 32768, 47104, 65536, 131072, 262144];
const MAX_TIME_COST = 10;
const SAMPLES = 3;

/** Returns the median time of a few hashes with `settings`, in milliseconds. */
async function measure(settings: Argon2Parameters): Promise<number> {
  const times: number[] = [];
  for (let sample = 0; sample < SAMPLES; sample += 1) {
    const started = performance.now();
    await argon2.hash(`calibration-${sample}`, {
      type: argon2.argon2id,
      memoryCost: settings.memoryKib,
      timeCost: settings.timeCost,
      parallelism: settings.parallelism,
    });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(SAMPLES / 2)] ?? 0;
}

/**
 * Finds the most memory, then the most passes, whose hash still takes at most `targetMs` on this machine,
 * never going below the OWASP minimum.
 */
export async function calibrate(targetMs: number, maxMemoryKib: number): Promise<{ settings: Argon2Parameters; milliseconds: number }> {
  let best: { settings: Argon2Parameters; milliseconds: number } | null = null;

  for (const memoryKib of MEMORY_STEPS_KIB.filter((step) => step <= maxMemoryKib)) {
    const settings: Argon2Parameters = { memoryKib, timeCost: 2, parallelism: 1 };
    const milliseconds = await measure(settings);
    if (milliseconds > targetMs && best) break;
    best = { settings, milliseconds };
    if (milliseconds > targetMs) return best;
  }
  if (!best) throw new CliError(`--max-memory-mib must allow at least ${MIN_MEMORY_KIB / 1024} MiB`, 2);

  for (let timeCost = 3; timeCost <= MAX_TIME_COST; timeCost += 1) {
    const settings: Argon2Parameters = { ...best.settings, timeCost };
    const milliseconds = await measure(settings);
    if (milliseconds > targetMs) break;
    best = { settings, milliseconds };
  }
  return best;
}

export const hashCommands: Command[] = [
  {
    name: 'hash calibrate',
    summary: 'Find argon2id settings whose hash takes a target time on this machine, and print them.',
    usage: '[--target-ms N] [--max-memory-mib N] [--json]',
    details: [
      '--target-ms       time one password hash may take, in milliseconds (default 200)',
      '--max-memory-mib  most memory one hash may use, in MiB (default 64)',
      'Each login and password change computes one hash, so the target bounds login throughput per core.',
    ],
    options: { 'target-ms': { type: 'string' }, 'max-memory-mib': { type: 'string' } },
    positionals: 0,
    run: async (context) => {
      const targetMs = wholeNumber(context.options['target-ms'], 'target-ms', 200);
      const maxMemoryKib = wholeNumber(context.options['max-memory-mib'], 'max-memory-mib', 64) * 1024;
      if (targetMs < 1) throw new CliError('--target-ms must be at least 1', 2);

      const { settings, milliseconds } = await calibrate(targetMs, maxMemoryKib);
      if (context.json) {
        context.print(JSON.stringify({ ...settings, milliseconds: Math.round(milliseconds) }, null, 2));
        return;
      }

      const note = milliseconds > targetMs ? ' (the OWASP minimum is slower than the target here)' : '';
      context.print(
        [
          `# one hash takes about ${Math.round(milliseconds)} ms here${note}`,
          `HASH_MEMORY_KIB=${settings.memoryKib}`,
          `HASH_TIME_COST=${settings.timeCost}`,
          `HASH_PARALLELISM=${settings.parallelism}`,
        ].join('\n'),
      );
    },
  },
];
