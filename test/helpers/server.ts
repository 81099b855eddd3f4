import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { databaseUrlFor, ensureDatabase } from './store.js';

export interface TestServer extends RunningServer {
  dataDir: string;
  /** Every log line the server wrote, as raw JSON text. */
  logLines: string[];
}

/**
 * Limits for tests that sign up many addresses from 127.0.0.1 on one server, far above the defaults of
 * THROTTLE_CREATE_PER_IP and THROTTLE_CREATE_PER_ADDRESS, which such tests would reach.
 */
export const BULK_SIGN_UPS = { THROTTLE_CREATE_PER_IP: '1000000', THROTTLE_CREATE_PER_ADDRESS: '1000000' };

/** Creates a fresh temporary folder for a server's SQLite file and mail. */
export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sigma-accounts-test-'));
}

/**
 * Starts the real server on an ephemeral loopback port over a real database: a SQLite file, or with
 * TEST_STORE=postgres a PostgreSQL database of its own. `env` overrides settings the way the environment
 * would; the default is a new data folder and the OWASP-minimum hash.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = env.DATA_DIR ?? tempDataDir();
  await ensureDatabase(dataDir);
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrlFor(dataDir),
    MAIL_POLL_MS: '50',
    LOG_LEVEL: 'info',
    ...env,
  });

  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });

  const server = await startServer(config, createLogger(config.logLevel, { format: config.logFormat, destination: sink }));
  return { ...server, dataDir, logLines };
}
