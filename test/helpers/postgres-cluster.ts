import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './ports.js';

const run = promisify(execFile);

const POSTGRES_ROOT = '/usr/lib/postgresql';
const COMMAND_TIMEOUT_MS = 60_000;

/** Finds the `bin` folder of the newest PostgreSQL under /usr/lib/postgresql with initdb and pg_ctl, or returns null. */
export function postgresBinDir(): string | null {
  if (!fs.existsSync(POSTGRES_ROOT)) return null;

  const versions = fs
    .readdirSync(POSTGRES_ROOT)
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((left, right) => Number(right) - Number(left));
  for (const version of versions) {
    const binDir = path.join(POSTGRES_ROOT, version, 'bin');
    if (fs.existsSync(path.join(binDir, 'initdb')) && fs.existsSync(path.join(binDir, 'pg_ctl'))) return binDir;
  }
  return null;
}

/**
 * Returns why a throwaway cluster cannot be made on this machine, or null when it can. initdb rejects
 * root, so as root the commands run as the `postgres` OS user through runuser.
 */
export function clusterUnavailableReason(): string | null {
  if (postgresBinDir() === null) return `initdb and pg_ctl not found under ${POSTGRES_ROOT}/*/bin; install postgresql`;
  if (process.getuid?.() !== 0) return null;

  if (!fs.existsSync('/usr/sbin/runuser') && !fs.existsSync('/sbin/runuser')) return 'runuser not found; it is needed to run initdb as the postgres user';
  const users = fs.readFileSync('/etc/passwd', 'utf8');
  if (!/^postgres:/m.test(users)) return 'no postgres OS user to run initdb as; initdb rejects root';
  return null;
}

/**
 * A PostgreSQL cluster of its own, in a temporary folder and on its own port of 127.0.0.1 with trust
 * authentication, so that a test can stop and start it without disturbing any other database.
 */
export class PostgresCluster {
  private running = false;

  private constructor(
    private readonly binDir: string,
    /** Folder of the data directory, the socket and the server log. */
    readonly baseDir: string,
    readonly port: number,
  ) {}

  /** Runs initdb in a new temporary folder. The server runs only after `start()`. */
  static async create(): Promise<PostgresCluster> {
    const binDir = postgresBinDir();
    if (!binDir) throw new Error(`initdb not found under ${POSTGRES_ROOT}/*/bin`);

    const baseDir = await makeBaseDir();
    const cluster = new PostgresCluster(binDir, baseDir, await freePort());
    await cluster.command('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    return cluster;
  }

  get dataDir(): string {
    return path.join(this.baseDir, 'data');
  }

  get logFile(): string {
    return path.join(this.baseDir, 'server.log');
  }

  /** URL of a database of this cluster for the `postgres` role. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    // fsync off only skips flushes to disk. An immediate stop ends the server's processes, not the OS, so
    // the WAL it wrote is still in the page cache, and the next start replays it.
    const options = `-p ${this.port} -k ${this.baseDir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await this.command('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-o', options, '-w', '-t', '30', 'start']);
    this.running = true;
  }

  /** Stops the server: `immediate` ends every backend at once without a checkpoint, as a crash would. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.command('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
    this.running = false;
  }

  /** Stops the server if it runs and deletes the folder. */
  async destroy(): Promise<void> {
    if (this.running) await this.stop('immediate').catch(() => {});
    fs.rmSync(this.baseDir, { recursive: true, force: true });
  }

  /** Reads the last lines of the server log, for an error message. */
  logTail(lines = 20): string {
    if (!fs.existsSync(this.logFile)) return '(no server log)';
    return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  }

  private async command(name: string, args: string[]): Promise<void> {
    const [file, ...rest] = asClusterOwner(path.join(this.binDir, name), args);
    try {
      await run(file!, rest, { timeout: COMMAND_TIMEOUT_MS, cwd: this.baseDir });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`${name} ${args.join(' ')} failed: ${(error as Error).message}\n${stdout}${stderr}\n${this.logTail()}`);
    }
  }
}

/** Builds a command line that runs `file` as the postgres OS user when this process is root, else as this process's user. */
function asClusterOwner(file: string, args: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', file, ...args] : [file, ...args];
}

async function makeBaseDir(): Promise<string> {
  const template = path.join(os.tmpdir(), 'sigma-accounts-pg-XXXXXX');
  if (process.getuid?.() !== 0) return fs.mkdtempSync(template.slice(0, -'XXXXXX'.length));

  // Made by the postgres user, so that initdb may create the data directory in it.
  const { stdout } = await run('runuser', ['-u', 'postgres', '--', 'mktemp', '-d', template], { timeout: COMMAND_TIMEOUT_MS });
  return stdout.trim();
}
