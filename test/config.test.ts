import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ConfigError, loadConfig } from '../src/config.js';
import { action } from './helpers/client.js';
import { freePort } from './helpers/ports.js';
import { tempDataDir } from './helpers/server.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(REPO_ROOT, 'dist', 'main.js');

describe('loadConfig', () => {
  test('defaults with an empty environment', () => {
    const config = loadConfig({});

    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, path.resolve('./data'));
    assert.equal(config.databaseUrl, `sqlite:${path.join(path.resolve('./data'), 'sigma-accounts.sqlite')}`);
    assert.equal(config.publicUrl, 'http://127.0.0.1:8080');
    assert.equal(config.smtpUrl, null);
    assert.equal(config.mailFrom, 'sigma-accounts <no-reply@127.0.0.1>');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.trustedProxies, false);
    assert.equal(config.bodyLimitBytes, 64 * 1024);
    assert.equal(config.sessionTtlSeconds, 1209600);
    assert.equal(config.confirmTokenTtlSeconds, 72 * 3600);
    assert.equal(config.mailMaxAttempts, 8);
    assert.deepEqual(config.hash, { memoryKib: 19456, timeCost: 2, parallelism: 1, concurrency: os.availableParallelism(), queueLimit: 64 });
    assert.deepEqual(config.basicCache, { ttlSeconds: 60, maxEntries: 10000 });
    assert.ok(Object.isFrozen(config), 'the config is frozen');
    assert.ok(Object.isFrozen(config.hash), 'the hash settings are frozen');
  });

  test('blank values fall back to defaults', () => {
    const config = loadConfig({ PORT: '', LOG_LEVEL: '  ', SMTP_URL: '' });

    assert.equal(config.port, 8080);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.smtpUrl, null);
  });

  test('valid settings are taken', () => {
    const config = loadConfig({
      HOST: '::1',
      PORT: '9000',
      DATA_DIR: '/tmp/sigma-data',
      DATABASE_URL: 'postgres://accounts@db.example.com:5432/accounts',
      SMTP_URL: 'smtps://mailer:secret@mail.example.com:465',
      MAIL_FROM: 'Accounts <accounts@example.com>',
      LOG_LEVEL: 'warn',
      TRUSTED_PROXIES: '10.0.0.0/8, ::1, 192.168.1.7/32',
      HASH_MEMORY_KIB: '65536',
      SESSION_TTL_SECONDS: '3600',
    });

    assert.equal(config.port, 9000);
    assert.equal(config.dataDir, '/tmp/sigma-data');
    assert.equal(config.publicUrl, 'http://[::1]:9000');
    assert.equal(config.databaseUrl, 'postgres://accounts@db.example.com:5432/accounts');
    assert.equal(config.smtpUrl, 'smtps://mailer:secret@mail.example.com:465');
    assert.equal(config.mailFrom, 'Accounts <accounts@example.com>');
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '::1', '192.168.1.7/32']);
    assert.equal(config.hash.memoryKib, 65536);
    assert.equal(config.sessionTtlSeconds, 3600);
  });

  test('sqlite DATABASE_URL becomes an absolute path', () => {
    const config = loadConfig({ DATABASE_URL: 'sqlite:relative/accounts.sqlite' });
    assert.equal(config.databaseUrl, `sqlite:${path.resolve('relative/accounts.sqlite')}`);
  });

  test('PUBLIC_URL loses its final slash', () => {
    assert.equal(loadConfig({ PUBLIC_URL: 'https://accounts.example.com/' }).publicUrl, 'https://accounts.example.com');
  });

  const invalid: Array<[setting: string, value: string]> = [
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PORT', '0x50'],
    ['DATABASE_URL', 'mysql://db.example.com/accounts'],
    ['DATABASE_URL', 'sqlite:'],
    ['DATABASE_URL', 'accounts.sqlite'],
    ['PUBLIC_URL', 'accounts.example.com'],
    ['PUBLIC_URL', 'ftp://accounts.example.com'],
    ['PUBLIC_URL', 'https://accounts.example.com/?from=mail'],
    ['PUBLIC_URL', 'https://accounts.example.com/#top'],
    ['SMTP_URL', 'mail.example.com:25'],
    ['SMTP_URL', 'http://mail.example.com'],
    ['MAIL_FROM', 'no-reply'],
    ['MAIL_FROM', 'no-reply@example.com\r\nBcc: victim@example.com'],
    ['LOG_LEVEL', 'verbose'],
    ['TRUSTED_PROXIES', 'proxy.example.com'],
    ['TRUSTED_PROXIES', '10.0.0.0/33'],
    ['TRUSTED_PROXIES', '::1/129'],
    ['TRUSTED_PROXIES', '10.0.0.0/8/1'],
    ['TRUSTED_PROXIES', '10.0.0.1/abc'],
    ['HASH_MEMORY_KIB', '19455'],
    ['HASH_MEMORY_KIB', '4096'],
    ['HASH_MEMORY_KIB', 'lots'],
    ['SESSION_TTL_SECONDS', '0'],
    ['SESSION_TTL_SECONDS', '59'],
    ['SESSION_TTL_SECONDS', '-3600'],
    ['SESSION_TTL_SECONDS', '1e6'],
    ['SESSION_TTL_SECONDS', 'two weeks'],
  ];

  for (const [setting, value] of invalid) {
    test(`rejects ${setting}=${JSON.stringify(value)}`, () => {
      assert.throws(
        () => loadConfig({ [setting]: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
          assert.ok(error.message.includes(setting), `message names ${setting}: ${error.message}`);
          return true;
        },
      );
    });
  }

  for (const smtpUrl of ['smtpx://mailer:Hunter2-Secret@mail.example.com', 'smtp://mailer:Hunter2-Secret@[mail.example.com']) {
    test(`bad SMTP_URL message hides the password (${smtpUrl.split(':', 1)[0]})`, () => {
      assert.throws(
        () => loadConfig({ SMTP_URL: smtpUrl }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.ok(error.message.includes('SMTP_URL'), error.message);
          assert.ok(!error.message.includes('Hunter2-Secret'), `message repeats the password: ${error.message}`);
          return true;
        },
      );
    });
  }
});

describe('command line', () => {
  test('bad PORT exits 2 with one line', async () => {
    const result = await run(['serve'], { PORT: 'abc', DATA_DIR: tempDataDir() });

    assert.equal(result.code, 2);
    const lines = result.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
    assert.match(lines[0] ?? '', /PORT/);
    assert.equal(result.stdout, '');
  });

  test('--version prints the package version', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await run(['--version'], {});

    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${manifest.version}\n`);
    assert.equal(result.stderr, '');
  });

  test('SIGTERM stops serve with exit 0', async (t) => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: REPO_ROOT,
      env: cliEnvironment({ HOST: '127.0.0.1', PORT: String(port), DATA_DIR: tempDataDir() }),
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const output = collect(child);

    await waitForLine(output, 'stdout', 'sigma-accounts started', 10_000);
    const checked = await action(`http://127.0.0.1:${port}`, 'check_login');
    assert.equal(checked.status, 401, 'the server answers on the chosen port');

    child.kill('SIGTERM');
    const exit = await output.exited;

    assert.equal(exit.code, 0);
    assert.equal(exit.signal, null);
    const messages = output.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { msg?: string }).msg);
    assert.ok(messages.includes('sigma-accounts stopped'), `log messages: ${messages.join(' | ')}`);
    assert.equal(output.stderr, '');
  });
});

interface Output {
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Builds the CLI's environment from the given settings only, so that settings of the test process do not leak in. */
function cliEnvironment(settings: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', ...settings };
}

function collect(child: ChildProcess): Output {
  const output: Output = {
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.on('data', (chunk: Buffer) => (output.stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output.stderr += chunk.toString('utf8')));
  return output;
}

async function run(args: string[], settings: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: cliEnvironment(settings) });
  const output = collect(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);

  const { code } = await output.exited;
  clearTimeout(timer);
  return { code, stdout: output.stdout, stderr: output.stderr };
}

async function waitForLine(output: Output, stream: 'stdout' | 'stderr', text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!output[stream].includes(text)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for "${text}" in ${stream}; stdout: ${output.stdout} stderr: ${output.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
