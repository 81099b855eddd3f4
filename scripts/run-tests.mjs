// Runs the test suite on SQLite, then again on PostgreSQL when a server responds (or always when
// REQUIRE_POSTGRES is set). Each run is one `node --test` process with its own summary.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

import pg from 'pg';

const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const files = readdirSync('test').filter((name) => name.endsWith('.test.ts')).map((name) => `test/${name}`);

function run(store) {
  console.log(`\n== tests on ${store}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
    stdio: 'inherit',
    env: { ...process.env, TEST_STORE: store },
  });
  return result.status ?? 1;
}

async function postgresAnswers() {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const sqliteStatus = run('sqlite');

let postgresStatus = 0;
if (await postgresAnswers()) {
  postgresStatus = run('postgres');
} else if (process.env.REQUIRE_POSTGRES) {
  console.error(`\nPostgreSQL at ${new URL(adminUrl).host} does not respond, and REQUIRE_POSTGRES is set; start it or set TEST_POSTGRES_URL.`);
  postgresStatus = 1;
} else {
  console.log(`\nSkipped the PostgreSQL run: no server responds at ${new URL(adminUrl).host} (set TEST_POSTGRES_URL).`);
}

process.exitCode = sqliteStatus !== 0 ? sqliteStatus : postgresStatus;
