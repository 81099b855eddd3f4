// Runs the test suite on SQLite and, when a server responds (or always when REQUIRE_POSTGRES is set), on
// PostgreSQL. The two runs go side by side, each one `node --test` process with its own summary, and
// their output is printed one after the other. TEST_RUNS=sequential runs them one at a time instead.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';

import pg from 'pg';

const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const files = readdirSync('test').filter((name) => name.endsWith('.test.ts')).map((name) => `test/${name}`);

/** Runs the suite on one store; resolves with its exit status and everything it printed. */
function run(store) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEST_STORE: store },
    });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.on('close', (code) => resolve({ store, status: code ?? 1, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

function report(result) {
  console.log(`\n== tests on ${result.store}`);
  process.stdout.write(result.output);
  return result.status;
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

const withPostgres = await postgresAnswers();
let postgresStatus = 0;
if (!withPostgres && process.env.REQUIRE_POSTGRES) {
  console.error(`\nPostgreSQL at ${new URL(adminUrl).host} does not respond, and REQUIRE_POSTGRES is set; start it or set TEST_POSTGRES_URL.`);
  postgresStatus = 1;
}

const stores = withPostgres ? ['sqlite', 'postgres'] : ['sqlite'];
const results = [];
if (process.env.TEST_RUNS === 'sequential') {
  for (const store of stores) results.push(await run(store));
} else {
  results.push(...(await Promise.all(stores.map(run))));
}

const statuses = results.map(report);
if (!withPostgres && !process.env.REQUIRE_POSTGRES) {
  console.log(`\nSkipped the PostgreSQL run: no server responds at ${new URL(adminUrl).host} (set TEST_POSTGRES_URL).`);
}
console.log(`\n== summary: ${results.map((result) => `${result.store} ${result.status === 0 ? 'passed' : 'FAILED'}`).join(', ')}`);
process.exitCode = statuses.find((status) => status !== 0) ?? postgresStatus;
