import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { simpleParser } from 'mailparser';

import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, request } from './helpers/client.js';
import { waitUntil } from './helpers/outbox.js';
import { confirmationLinkIn, tokenOf } from './helpers/smtp-sink.js';
import { testStore } from './helpers/store.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const MANIFEST = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

// npm install compiles the native modules argon2 and better-sqlite3 with node-gyp when no prebuilt binary
// fits: about a minute on two idle cores, and more while the other test pass runs beside it.
const INSTALL_TIMEOUT_MS = 10 * 60_000;
const PACK_TIMEOUT_MS = 3 * 60_000;
const COMMAND_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;

/** Top-level entries of the repository that npm pack does not read or that a clean clone lacks. */
const NOT_COPIED = /^(\.git|node_modules|dist|data|.*\.tgz|.*\.log)$/;

/** Leftovers of earlier builds, planted in the copy before packing; the prepack step must delete them. */
const LEFTOVERS = ['dist/removed-module.js', 'dist/main.js.map', 'dist/tsconfig.tsbuildinfo', 'dist/test/cli.test.js'];

/** npm error codes that mean the registry or the cache could not deliver a package. */
const REGISTRY_ERROR_CODES = new Set([
  'ENOTCACHED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH',
  'ERR_SOCKET_TIMEOUT', 'E408', 'E429', 'E500', 'E502', 'E503', 'E504',
]);

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A long-running command whose standard output is pino's JSON log. */
interface Running {
  child: ChildProcess;
  /** Whether the command leads a process group of its own. */
  group: boolean;
  /** Whether `closed` has resolved. */
  isClosed(): boolean;
  entries: Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves when the process has exited and every process that shares its output pipes has closed them. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Returns the variables that an operator's shell would pass on: the test's environment without the per-command
 * variables of an enclosing `npm test`, which would point the inner npm at the repository, and without
 * node_modules/.bin folders on PATH.
 */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    const perCommand = /^npm_(lifecycle|package|command|execpath|node_execpath)/.test(name) || name === 'INIT_CWD';
    if (perCommand || name === 'npm_config_local_prefix' || name === 'npm_config_call') continue;
    env[name] = value;
  }
  env.PATH = (process.env.PATH ?? '').split(path.delimiter).filter((folder) => !folder.includes('node_modules')).join(path.delimiter);
  return env;
}

/** Returns the environment of a `sigma-accounts` command: PATH and HOME for npx, then `settings` and nothing else. */
function commandEnvironment(settings: Record<string, string>): NodeJS.ProcessEnv {
  const { PATH, HOME } = npmEnvironment();
  return { PATH, HOME, LOG_LEVEL: 'info', ...settings };
}

/**
 * Runs a command in a process group of its own and collects its output. After `timeoutMs` the whole group
 * is killed, so that a compiler that npm started does not outlive the test.
 */
function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: signal === 'SIGKILL' ? `${stderr}\n(killed after ${options.timeoutMs} ms)` : stderr });
    });
  });
}

/** Starts a long-running command, in a process group of its own when `group` is set. */
function start(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; group: boolean }): Running {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group });
  const entries: Array<Record<string, unknown>> = [];
  let partialLine = '';
  let stderr = '';

  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partialLine + chunk).split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      try {
        entries.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        entries.push({ msg: line, notJson: true });
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  let isClosed = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      isClosed = true;
      resolve({ code, signal });
    });
  });
  return { child, group: options.group, entries, stderr: () => stderr, isClosed: () => isClosed, closed };
}

/**
 * Signals the process group that `child` leads. Callers signal only before the child's output pipes close:
 * until then a process of the group keeps them open, so no other process can have taken the group id.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (error) {
    // ESRCH: the group has ended meanwhile.
    if ((error as { code?: string }).code !== 'ESRCH') throw error;
  }
}

/** Waits for the "sigma-accounts started" log line and returns the address in it. */
async function listeningAddress(server: Running): Promise<string> {
  const started = () => server.entries.find((entry) => entry.msg === 'sigma-accounts started');
  const ended = () => server.child.exitCode !== null || server.child.signalCode !== null;
  await waitUntil(() => started() !== undefined || ended(), 'the server logs that it started', READY_TIMEOUT_MS);

  const address = started()?.address;
  assert.equal(typeof address, 'string', `no start line; log: ${JSON.stringify(server.entries.slice(-5))}\nstderr: ${server.stderr()}`);
  return address as string;
}

/** Returns the messages of the log lines at pino's error level (50) or above, and every line that is not JSON. */
function errorMessages(server: Running): unknown[] {
  return server.entries.filter((entry) => entry.notJson === true || Number(entry.level) >= 50).map((entry) => entry.msg);
}

/**
 * Returns why npm could not fetch the packages from its registry or its cache, or null when npm failed for
 * another reason (a broken package, a compiler error), which must fail the test everywhere.
 */
function registryProblem(stderr: string): string | null {
  const code = /^npm (?:error|ERR!) code (\S+)$/m.exec(stderr)?.[1];
  if (code === undefined || !REGISTRY_ERROR_CODES.has(code)) return null;

  // The first line of npm's explanation, without credentials that a registry URL might carry.
  const detail = stderr
    .split('\n')
    .filter((line) => /^npm (?:error|ERR!) /.test(line))
    .map((line) => line.replace(/^npm (?:error|ERR!) /, '').trim())
    .find((line) => line !== '' && !/^(code|syscall|errno) /.test(line))
    ?.replace(/\/\/[^/@\s]+@/g, '//');
  return `npm could not fetch the dependencies of the packed tarball from its registry or cache (${code}: ${detail ?? 'no detail'}); give npm a registry or fill its cache with npm ci`;
}

/** Returns the `applied` list of the "migrations applied" log line that `migrate` prints. */
function appliedMigrations(stdout: string): unknown {
  const line = stdout.split('\n').find((text) => text.includes('"migrations applied"'));
  assert.ok(line, `no "migrations applied" line in: ${stdout}`);
  return (JSON.parse(line) as { applied?: unknown }).applied;
}

function lastLines(text: string, count = 30): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

describe('installed package', { skip: testStore() === 'postgres' ? 'the package test packs and installs once per run, in the SQLite pass' : false }, () => {
  let work: string;
  /** The copy of the repository that was packed. */
  let source: string;
  let consumer: string;
  let unpacked: string;
  let tarball: string;
  let installProblem: string | null = null;
  const started: Running[] = [];

  /** Skips the test when npm could not install the tarball here; true when it did. */
  function installed(t: TestContext): boolean {
    if (installProblem === null) return true;
    t.skip(installProblem);
    return false;
  }

  function npx(args: string[], settings: Record<string, string> = {}): Promise<Finished> {
    return run('npx', ['sigma-accounts', ...args], { cwd: consumer, env: commandEnvironment(settings), timeoutMs: COMMAND_TIMEOUT_MS });
  }

  before(
    async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'sigma-accounts-package-'));
      source = path.join(work, 'source');
      const packed = path.join(work, 'packed');
      consumer = path.join(work, 'consumer');
      unpacked = path.join(work, 'unpacked');

      // npm pack runs the prepack step, which deletes and rebuilds dist/. It runs in a copy, so that the
      // repository's dist/, which the other test files run, stays as it is.
      fs.cpSync(REPO_ROOT, source, { recursive: true, filter: (entry) => !NOT_COPIED.test(path.relative(REPO_ROOT, entry)) });
      fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(source, 'node_modules'), 'dir');
      for (const leftover of LEFTOVERS) {
        fs.mkdirSync(path.dirname(path.join(source, leftover)), { recursive: true });
        fs.writeFileSync(path.join(source, leftover), '// left by an earlier build\n');
      }

      fs.mkdirSync(packed);
      const pack = await run('npm', ['pack', '--json', '--pack-destination', packed], { cwd: source, env: npmEnvironment(), timeoutMs: PACK_TIMEOUT_MS });
      assert.equal(pack.code, 0, `npm pack failed:\n${lastLines(`${pack.stdout}\n${pack.stderr}`)}`);
      const [report] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
      assert.ok(report, `npm pack printed no report: ${pack.stdout}`);
      tarball = path.join(packed, report.filename);

      fs.mkdirSync(unpacked);
      const untar = await run('tar', ['-xzf', tarball, '-C', unpacked], { cwd: work, env: npmEnvironment(), timeoutMs: COMMAND_TIMEOUT_MS });
      assert.equal(untar.code, 0, `tar could not unpack ${tarball}: ${untar.stderr}`);

      // A package.json of its own keeps npm from installing into a parent folder that has one.
      fs.mkdirSync(consumer);
      fs.writeFileSync(path.join(consumer, 'package.json'), '{ "private": true }\n');
      const install = await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], {
        cwd: consumer,
        env: npmEnvironment(),
        timeoutMs: INSTALL_TIMEOUT_MS,
      });
      if (install.code === 0) return;

      const problem = registryProblem(install.stderr);
      if (problem === null) assert.fail(`npm install of the packed tarball failed (exit ${install.code ?? install.signal}):\n${lastLines(install.stderr)}`);
      // On CI an unreachable registry is a failure, never a silent skip.
      if (process.env.CI) assert.fail(problem);
      installProblem = problem;
    },
    { timeout: PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS + COMMAND_TIMEOUT_MS },
  );

  after(async () => {
    for (const server of started.filter((running) => !running.isClosed())) {
      if (server.group) killGroup(server.child, 'SIGKILL');
      else server.child.kill('SIGKILL');
    }
    await Promise.all(started.map((server) => server.closed));
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('tarball contains runtime files only', () => {
    const root = path.join(unpacked, 'package');
    const files = (fs.readdirSync(root, { recursive: true }) as string[])
      .filter((name) => fs.statSync(path.join(root, name)).isFile())
      .map((name) => name.split(path.sep).join('/'));

    for (const name of files) {
      assert.match(name, /^(package\.json|README\.md|LICENSE|docs\/[\w/-]+\.(md|svg)|dist\/.+\.js|templates\/mail\/[\w-]+\.(txt|html))$/, `${name} is packed but is neither a runtime file nor a docs page; if the server reads it, add its pattern here`);
    }
    for (const name of files.filter((file) => file.startsWith('dist/'))) {
      assert.ok(fs.existsSync(path.join(source, 'src', name.slice('dist/'.length).replace(/\.js$/, '.ts'))), `${name} has no source in src/`);
    }
    for (const leftover of LEFTOVERS) assert.ok(!files.includes(leftover), `${leftover} was packed`);

    for (const template of fs.readdirSync(path.join(source, 'templates', 'mail'))) {
      assert.ok(files.includes(`templates/mail/${template}`), `templates/mail/${template} is missing`);
    }
    assert.match(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8'), /^\s*Apache License\s+Version 2\.0, January 2004/);
  });

  test('compiled modules import dependencies only', () => {
    const dist = path.join(unpacked, 'package', 'dist');
    // Module names after `from`, `import(`, `require(` and `createRequire(...)(`, other than relative paths.
    const specifier = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|\)\(\s*)['"]([^'"./][^'"]*)['"]/g;
    const imported = new Set<string>();
    for (const name of (fs.readdirSync(dist, { recursive: true }) as string[]).filter((file) => file.endsWith('.js'))) {
      for (const [, module = ''] of fs.readFileSync(path.join(dist, name), 'utf8').matchAll(specifier)) {
        imported.add(module.startsWith('@') ? module.split('/').slice(0, 2).join('/') : (module.split('/')[0] ?? module));
      }
    }

    assert.ok(imported.has('fastify'), `found imports: ${[...imported].join(', ')}`);
    for (const module of imported) {
      if (module.startsWith('node:') || builtinModules.includes(module)) continue;
      assert.ok(module in MANIFEST.dependencies, `dist/ imports ${module}, which is not in package.json's dependencies`);
    }
  });

  test('command file starts with node and is executable', () => {
    const entry = path.join(unpacked, 'package', 'dist', 'main.js');
    assert.ok(fs.readFileSync(entry, 'utf8').startsWith('#!/usr/bin/env node\n'), 'dist/main.js lacks the #! line');
    assert.equal(fs.statSync(entry).mode & 0o111, 0o111, `dist/main.js has mode ${(fs.statSync(entry).mode & 0o777).toString(8)} in the tarball`);
  });

  test('install brings no devDependency', (t) => {
    if (!installed(t)) return;
    for (const name of ['typescript', 'tsx']) {
      assert.ok(name in MANIFEST.devDependencies, `${name} is no longer a devDependency`);
      assert.ok(!fs.existsSync(path.join(consumer, 'node_modules', name)), `${name} was installed`);
    }
  });

  test('npx --version and --help', async (t) => {
    if (!installed(t)) return;

    const version = await npx(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), MANIFEST.version);

    const help = await npx(['--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: sigma-accounts /);
    assert.match(help.stdout, /\n {2}migrate /);
  });

  test('npx serve signs up into ./data', async (t) => {
    if (!installed(t)) return;

    // A process group of its own lets the test signal every process of the command, as a terminal or
    // systemd does, because npx runs sigma-accounts through sh, which does not pass SIGTERM on to its child.
    const settings = commandEnvironment({ HOST: '127.0.0.1', PORT: '0', MAIL_POLL_MS: '50' });
    const server = start('npx', ['sigma-accounts', 'serve'], { cwd: consumer, env: settings, group: true });
    started.push(server);
    const url = await listeningAddress(server);

    const ready = await request(`${url}/health/ready`, { method: 'GET' });
    assert.equal(ready.status, 200, ready.text);

    const email = uniqueAddress('package');
    const created = await action(url, 'create', { body: { email, promo: null } });
    assert.equal(created.status, 200, created.text);

    const mailDir = path.join(consumer, 'data', 'mail');
    const emlFiles = () => (fs.existsSync(mailDir) ? fs.readdirSync(mailDir).filter((name) => name.endsWith('.eml')) : []);
    await waitUntil(() => emlFiles().length > 0, `an .eml file appears in ${mailDir}`);
    const [file] = emlFiles();
    const mail = await simpleParser(fs.readFileSync(path.join(mailDir, file ?? '')));
    assert.ok(mail.to, 'the mail has a To header');
    assert.ok(!Array.isArray(mail.to), 'the mail has one To header');
    assert.deepEqual(mail.to.value.map((entry) => entry.address), [email]);
    assert.ok(mail.html, 'the mail has an HTML part from templates/mail');

    // Setting the password hashes it with argon2, the second native module.
    const confirmed = await action(url, 'confirm', { body: { token: tokenOf(confirmationLinkIn(mail)), password: PASSWORD } });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.equal((confirmed.body as { uuid: string }).uuid, (created.body as { uuid: string }).uuid);

    killGroup(server.child, 'SIGTERM');
    // npx's exit status comes from sh, which SIGTERM ends, so the server's own status is checked in the
    // next test. Here its output pipes close only once the server process has ended.
    await server.closed;
    const messages = server.entries.map((entry) => entry.msg);
    assert.ok(messages.includes('stopping'), `log messages: ${messages.join(' | ')}`);
    assert.ok(messages.includes('sigma-accounts stopped'), `log messages: ${messages.join(' | ')}`);
    assert.deepEqual(errorMessages(server), []);

    const account = await npx(['accounts', 'show', email, '--json']);
    assert.equal(account.code, 0, account.stderr);
    assert.equal((JSON.parse(account.stdout) as { state: string }).state, 'active');
  });

  test('installed command exits 0 on SIGTERM', async (t) => {
    if (!installed(t)) return;

    const dataDir = path.join(work, 'data-of-bin');
    const command = path.join(consumer, 'node_modules', '.bin', 'sigma-accounts');
    const server = start(command, ['serve'], { cwd: consumer, env: commandEnvironment({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir }), group: false });
    started.push(server);
    const url = await listeningAddress(server);

    const ready = await request(`${url}/health/ready`, { method: 'GET' });
    assert.equal(ready.status, 200, ready.text);
    assert.ok(fs.existsSync(path.join(dataDir, 'sigma-accounts.sqlite')), 'DATA_DIR holds the database');

    server.child.kill('SIGTERM');
    assert.deepEqual(await server.closed, { code: 0, signal: null });
    assert.deepEqual(errorMessages(server), []);
  });

  test('npx migrate creates the schema once', async (t) => {
    if (!installed(t)) return;
    const dataDir = path.join(work, 'data-of-migrate');

    const first = await npx(['migrate'], { DATA_DIR: dataDir });
    assert.equal(first.code, 0, first.stderr);
    assert.ok(fs.existsSync(path.join(dataDir, 'sigma-accounts.sqlite')), 'DATA_DIR holds the database');
    const applied = appliedMigrations(first.stdout);
    assert.ok(Array.isArray(applied), first.stdout);
    assert.ok(applied.includes('001-initial'), first.stdout);

    const second = await npx(['migrate'], { DATA_DIR: dataDir });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(appliedMigrations(second.stdout), []);
  });

  test('offline npm with no cache is a registry problem', async () => {
    const folder = path.join(work, 'offline');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'package.json'), '{ "private": true }\n');

    const install = await run('npm', ['install', tarball, '--offline', '--cache', path.join(work, 'empty-cache'), '--no-audit', '--no-fund'], {
      cwd: folder,
      env: npmEnvironment(),
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    assert.notEqual(install.code, 0);
    assert.match(registryProblem(install.stderr) ?? '', /^npm could not fetch the dependencies .*\(ENOTCACHED: request to \S+ failed/);
    assert.equal(registryProblem('npm error code 1\nnpm error path /x/node_modules/better-sqlite3\nnpm error command failed\n'), null);
  });
});
