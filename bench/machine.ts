// The machine and software versions that a benchmark report names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import SqliteDatabase from 'better-sqlite3';

import { REPO_ROOT } from './servers.js';

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

const PACKAGES = ['fastify', 'better-sqlite3', 'pg', 'kysely', 'argon2', 'autocannon'];

/** Reads the version from the installed package.json, which some packages' exports maps do not expose to require. */
function packageVersion(name: string): string {
  const manifest = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
  if (!fs.existsSync(manifest)) return 'not installed';
  return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
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
