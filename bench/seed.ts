// Seeds a store for load tests: BENCH_SCALE active accounts (default 1,000,000) that share one password,
// each with one live session, written straight into the database after `node dist/main.js migrate`.
// The store is the one the server would use with the same settings (DATA_DIR, DATABASE_URL), and it must
// have no accounts yet. What the benchmark needs to use the rows (the password and the key that session
// ids derive from) goes to DATA_DIR/bench-seed.json.
//
//   DATA_DIR=/tmp/seeded npm run bench:seed
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/seeded BENCH_SCALE=100000 npm run bench:seed
//
// The password hash is computed once, with the server's argon2id settings (HASH_MEMORY_KIB, HASH_TIME_COST,
// HASH_PARALLELISM), and stored on every account, so logins to seeded accounts cost what real ones do.
// dist/ is rebuilt first when a source file is newer, unless BENCH_CLI names the built CLI to migrate with.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { loadConfig } from '../src/config.js';
import { PasswordHasher } from '../src/passwords/password-hasher.js';
import { buildIfNeeded, migrate, useCli } from './servers.js';
import { MANIFEST_NAME, seedBatches, type SeedConstants, type SeedManifest } from './seed-rows.js';
import { countPostgresAccounts, writePostgresSeed } from './seed-postgres.js';
import { countSqliteAccounts, writeSqliteSeed } from './seed-sqlite.js';
import { wholeNumberSetting } from './settings.js';

const BATCH_SIZE = 20_000;

async function main(): Promise<void> {
  const count = wholeNumberSetting('BENCH_SCALE', 1_000_000);
  const config = loadConfig();
  const isSqlite = config.databaseUrl.startsWith('sqlite:');
  const where = isSqlite ? config.databaseUrl : `PostgreSQL database ${new URL(config.databaseUrl).pathname.slice(1)}`;

  const builtCli = process.env.BENCH_CLI?.trim();
  if (builtCli) useCli(builtCli);
  else buildIfNeeded();
  const env = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  await migrate({ ...env, LOG_LEVEL: 'warn' });

  const existing = isSqlite ? countSqliteAccounts(config.databaseUrl.slice('sqlite:'.length)) : await countPostgresAccounts(config.databaseUrl);
  if (existing > 0) {
    throw new Error(`${where} already has ${existing} accounts; seed an empty store (a new DATA_DIR or database)`);
  }

  const password = `bench ${randomBytes(12).toString('base64url')}`;
  const seededAt = Date.now();
  const manifest: SeedManifest = {
    accounts: count,
    sessions: count,
    password,
    sessionKey: randomBytes(32).toString('hex'),
    seededAt,
    expiresAt: seededAt + config.sessionTtlSeconds * 1000,
  };
  const constants: SeedConstants = {
    passwordHash: await new PasswordHasher(config.hash).hash(password),
    seededAt,
    expiresAt: manifest.expiresAt,
  };

  console.log(`seeding ${count.toLocaleString('en')} accounts and sessions into ${where}`);
  const started = performance.now();
  let written = 0;
  let reported = 0;
  const onBatch = (rows: number) => {
    written += rows;
    if (written - reported >= 100_000 || written === count) {
      reported = written;
      console.log(`  ${written.toLocaleString('en')} rows per table, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  };

  const batches = seedBatches(manifest, BATCH_SIZE);
  if (isSqlite) writeSqliteSeed(config.databaseUrl.slice('sqlite:'.length), batches, constants, onBatch);
  else await writePostgresSeed(config.databaseUrl, batches, constants, onBatch);

  fs.mkdirSync(config.dataDir, { recursive: true });
  const manifestFile = path.join(config.dataDir, MANIFEST_NAME);
  fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  console.log(`seeded in ${((performance.now() - started) / 1000).toFixed(1)} s; password and session key in ${manifestFile}`);
}

await main();
