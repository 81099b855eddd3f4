import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sleep } from './outbox.js';
import { freePort } from './ports.js';
import { tempDataDir } from './server.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(REPO_ROOT, 'dist', 'main.js');

// A start runs the migrations, which wait for each other when several nodes share one database.
const READY_TIMEOUT_MS = 20_000;
// A graceful stop finishes open requests and the mail in hand. After this long the process is killed.
const STOP_TIMEOUT_MS = 10_000;

/** A `sigma-accounts serve` process started from the build in `dist/`. */
export interface ServerProcess {
  /** Base URL, such as http://127.0.0.1:41234. */
  url: string;
  pid: number;
  dataDir: string;
  /** Lines the process wrote to standard output (its JSON log), so far. */
  logLines: string[];
  /** What the process wrote to standard error, so far. */
  stderr(): string;
  /** Whether the process has not exited yet. */
  running(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Sends SIGTERM and waits for the exit, sending SIGKILL when the stop takes longer than 10 s, then deletes
   * the data folder.
   */
  stop(): Promise<void>;
  /** Sends SIGKILL, waits for the exit and deletes the data folder. */
  kill(): Promise<void>;
}

/**
 * Starts `node dist/main.js serve` on a free port of 127.0.0.1 and waits until /health/ready returns 200.
 * The process gets PATH, HOST, PORT, PUBLIC_URL, a temporary DATA_DIR and LOG_LEVEL=info, overridden by
 * `settings`, and nothing else from the test's environment. Throws with the process's output when it
 * exits or is not ready in time.
 */
export async function startServerProcess(settings: Record<string, string>): Promise<ServerProcess> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing; run npx tsc -p tsconfig.json (npm test builds it)`);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = tempDataDir();
  const env = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: url,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...settings,
  };

  const child = spawn(process.execPath, [CLI, 'serve'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = watch(child, url, dataDir);

  try {
    await waitUntilReady(server);
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server;
}

function watch(child: ChildProcess, url: string, dataDir: string): ServerProcess {
  const logLines: string[] = [];
  let partialLine = '';
  let stderr = '';
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partialLine + chunk.toString('utf8')).split('\n');
    partialLine = lines.pop() ?? '';
    logLines.push(...lines.filter(Boolean));
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
  });

  const running = () => exitStatus === null;

  const removeDataDir = () => fs.rmSync(dataDir, { recursive: true, force: true });

  const kill = async () => {
    if (running()) child.kill('SIGKILL');
    await exited;
    removeDataDir();
  };

  const stop = async () => {
    if (running()) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    removeDataDir();
  };

  return { url, pid: child.pid ?? 0, dataDir, logLines, stderr: () => stderr, running, exited, stop, kill };
}

async function waitUntilReady(server: ServerProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastProblem = 'no answer yet';

  while (Date.now() < deadline) {
    if (!server.running()) {
      const status = await server.exited;
      throw new Error(`server exited before it was ready (${JSON.stringify(status)}); ${outputOf(server)}`);
    }

    try {
      const response = await fetch(`${server.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      lastProblem = `/health/ready returned ${response.status}`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(`server at ${server.url} not ready after ${READY_TIMEOUT_MS} ms (${lastProblem}); ${outputOf(server)}`);
}

/** Formats the last log lines (each cut to 400 characters) and the standard error of a process for an error message. */
export function outputOf(server: ServerProcess, lines = 10): string {
  const log = server.logLines.slice(-lines).map((line) => (line.length > 400 ? `${line.slice(0, 400)}...` : line));
  return `last log lines:\n${log.join('\n')}\nstderr:\n${server.stderr()}`;
}

/** Selects the log lines at pino's error level (50) or above, and any line that is not JSON. */
export function errorLogLines(logLines: string[]): string[] {
  return logLines.filter((line) => {
    try {
      return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
    } catch {
      return true;
    }
  });
}
