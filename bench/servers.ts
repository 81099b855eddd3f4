// Child processes of the benchmarks: the built sigma-accounts server, its `migrate` command and the hello
// baseline. Every one listens on 127.0.0.1 only and is stopped by its own pid.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILT_CLI = path.join(REPO_ROOT, 'dist', 'main.js');
/** The CLI that servers and migrations run: dist/main.js, or its snapshot after snapshotBuild. */
let cli = BUILT_CLI;
const HELLO = path.join(REPO_ROOT, 'bench', 'hello-server.ts');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** A server started by the benchmarks. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  pid: number;
  /** File that receives the server's standard output and error. */
  logFile: string;
}

/** Rebuilds dist/ when a source file is newer, as `npm start` does. */
export function buildIfNeeded(): void {
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build-if-needed.mjs')], { cwd: REPO_ROOT, stdio: 'inherit' });
}

/**
 * Copies dist/ under `dir`, links every other top-level entry of the checkout beside it (node_modules,
 * package.json, files that the server reads at run time), and runs every later server and migration from
 * that copy. A rebuild of dist/ during the benchmark, by `npm test` for instance, then cannot change the
 * code under measurement halfway. Returns the path of the copied CLI.
 */
export function snapshotBuild(dir: string): string {
  const root = path.join(dir, 'build');
  fs.cpSync(path.join(REPO_ROOT, 'dist'), path.join(root, 'dist'), { recursive: true });
  for (const entry of fs.readdirSync(REPO_ROOT)) {
    if (entry === 'dist' || entry === '.git') continue;
    fs.symlinkSync(path.join(REPO_ROOT, entry), path.join(root, entry));
  }
  cli = path.join(root, 'dist', 'main.js');
  return cli;
}

/** Runs servers and migrations with `cliPath`, such as a snapshot that bench.ts made (BENCH_CLI). */
export function useCli(cliPath: string): void {
  cli = cliPath;
}

/** Describes the sources of the build: the commit, and whether src/ has changes that are not committed. */
export function sourceState(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return changed === 0 ? `commit ${commit}` : `commit ${commit} with uncommitted changes to ${changed} files under src/`;
  } catch {
    return 'sources outside a git checkout';
  }
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago. Another process could take it before the
 * server binds it; the server then fails to start and the benchmark stops with its log.
 */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });

  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Runs `node dist/main.js migrate` with these settings. */
export async function migrate(env: Record<string, string>): Promise<void> {
  await run(process.execPath, [cli, 'migrate'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
}

/**
 * Starts `node dist/main.js serve` with `env` (HOST, PORT and PUBLIC_URL are set here) and waits until
 * /health/ready returns 200. `nodeOptions` go before the script, such as `--cpu-prof`.
 */
export async function startSigmaAccounts(env: Record<string, string>, logFile: string, nodeOptions: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serverEnv = { PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url };
  return startChild([...nodeOptions, cli, 'serve'], serverEnv, url, `${url}/health/ready`, logFile);
}

/** Starts the hello baseline (bench/hello-server.ts) and waits until its route responds. */
export async function startHello(logFile: string): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { PATH: process.env.PATH ?? '', PORT: String(port) };
  return startChild(['--import', 'tsx', HELLO], env, url, `${url}/hello`, logFile);
}

async function startChild(args: string[], env: Record<string, string>, url: string, readyUrl: string, logFile: string): Promise<ServerProcess> {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`${args.join(' ')} could not be started`);
  const server = { url, child, pid: child.pid, logFile };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${args.join(' ')} exited with code ${child.exitCode} before it was ready; its log:\n${logTail(logFile)}`);
    }
    const ready = await fetch(readyUrl).then((response) => response.status === 200, () => false);
    if (ready) return server;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  await stopServer(server);
  throw new Error(`${readyUrl} did not return 200 within ${READY_TIMEOUT_MS / 1000} s; the server's log:\n${logTail(logFile)}`);
}

/**
 * Stops a server with SIGTERM and waits for it to exit, so that a `--cpu-prof` profile gets written. A
 * server still running after STOP_TIMEOUT_MS gets SIGKILL. Returns whether it exited on SIGTERM.
 */
export async function stopServer(server: ServerProcess): Promise<boolean> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return true;

  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  let graceful = true;
  const timer = setTimeout(() => {
    graceful = false;
    child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  return graceful;
}

/** Returns the last lines of a log file, for an error message. */
export function logTail(logFile: string, lines = 20): string {
  if (!fs.existsSync(logFile)) return '(no log)';
  return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
