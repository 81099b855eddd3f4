// Fresh, seeded stores for the benchmark runs: a new SQLite data folder, or a new PostgreSQL database on the
// local server, filled by `npm run bench:seed`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { createDatabase, dropDatabase } from './postgres-database.js';
import { MANIFEST_NAME, type SeedManifest } from './seed-rows.js';
import { REPO_ROOT } from './servers.js';

export type StoreKind = 'sqlite' | 'postgres';

/** A store made for one group of runs; `remove` deletes its data. */
export interface BenchStore {
  kind: StoreKind;
  dataDir: string;
  /** DATA_DIR, and DATABASE_URL for PostgreSQL: what the server and bench:seed need to find the store. */
  env: Record<string, string>;
  remove(): Promise<void>;
}

/**
 * Makes an empty store named `label` under `workDir`. For PostgreSQL the database is created on the server
 * of `adminUrl` and named after this process, so that runs of several checkouts do not collide.
 */
export async function freshStore(kind: StoreKind, label: string, workDir: string, adminUrl: string): Promise<BenchStore> {
  const dataDir = path.join(workDir, `${kind}-${label}`);
  fs.mkdirSync(dataDir, { recursive: true });
  const removeDir = () => fs.rmSync(dataDir, { recursive: true, force: true });

  if (kind === 'sqlite') {
    return { kind, dataDir, env: { DATA_DIR: dataDir }, remove: async () => removeDir() };
  }

  const name = `sigma_accounts_bench_${process.pid}_${label}`;
  const databaseUrl = await createDatabase(adminUrl, name);
  return {
    kind,
    dataDir,
    env: { DATA_DIR: dataDir, DATABASE_URL: databaseUrl },
    remove: async () => {
      await dropDatabase(adminUrl, name);
      removeDir();
    },
  };
}

/**
 * Runs `npm run bench:seed` (bench/seed.ts) for the store with `serverEnv`, so that the password hash has
 * the server's parameters, and migrates with the CLI `cli`. Returns the manifest it wrote and the wall
 * time of the whole command.
 */
export async function seedStore(store: BenchStore, accounts: number, serverEnv: Record<string, string>, cli: string): Promise<{ manifest: SeedManifest; seconds: number }> {
  const env = { PATH: process.env.PATH ?? '', ...serverEnv, ...store.env, BENCH_SCALE: String(accounts), BENCH_CLI: cli };
  const started = performance.now();

  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'seed.ts')], { cwd: REPO_ROOT, env, stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench:seed of ${accounts} accounts into ${store.dataDir} exited with code ${code}`);

  const seconds = (performance.now() - started) / 1000;
  const manifest = JSON.parse(fs.readFileSync(path.join(store.dataDir, MANIFEST_NAME), 'utf8')) as SeedManifest;
  return { manifest, seconds };
}
