// The machine and software versions that a benchmark report names.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

import SqliteDatabase from 'better-sqlite3';

export interface Machine {
  cpuModel: string;
  /** Logical CPUs in /proc/cpuinfo. */
  cpus: number;
  memoryGib: number;
  kernel: string;
  node: string;
  sqlite: string;
  /** Versions of the npm packages that shape the numbers, from their package.json. */
  packages: Record<string, string>;
}

const require = createRequire(import.meta.url);
const PACKAGES = ['fastify', 'better-sqlite3', 'pg', 'kysely', 'argon2', 'autocannon'];

function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Machine {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const memTotalKib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);

  const memory = new SqliteDatabase(':memory:');
  const sqlite = (memory.prepare('select sqlite_version() as version').get() as { version: string }).version;
  memory.close();

  return {
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU',
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    memoryGib: memTotalKib / 1024 / 1024,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    sqlite,
    packages: Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(name)])),
  };
}

/** Returns the 1-minute load average, which shows whether other work shared the machine. */
export function loadAverage(): string {
  return os.loadavg()[0]?.toFixed(2) ?? 'unknown';
}
