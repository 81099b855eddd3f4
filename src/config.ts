import { isIP } from 'node:net';
import path from 'node:path';

/** Settings read once from the environment at start, validated, then frozen. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** `sqlite:` path of the embedded store, or a `postgres://` URL. */
  databaseUrl: string;
  /** PostgreSQL only: connections per node, and limits on one statement and on waiting for a connection. */
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  databaseConnectTimeoutMs: number;
  publicUrl: string;
  smtpUrl: string | null;
  mailFrom: string;
  logLevel: string;
  /** Proxies whose `X-Forwarded-*` headers are believed: a CIDR list, or false. */
  trustedProxies: string[] | false;
  bodyLimitBytes: number;
  sessionTtlSeconds: number;
  /** A session unused for longer than this ends; 0 turns the idle timeout off. */
  sessionIdleTimeoutSeconds: number;
  confirmTokenTtlSeconds: number;
  /** Lifetime of a password reset link. */
  resetTokenTtlSeconds: number;
  /** Minimum time between two emails to the same address. */
  mailThrottleSeconds: number;
  mailMaxAttempts: number;
  mailPollMilliseconds: number;
  /** How long a node owns a claimed outbox message before another may take it. */
  mailLeaseSeconds: number;
  hash: HashSettings;
  /** Whether HTTP Digest is accepted; it needs a password-equivalent hash stored per account. */
  digestAuth: boolean;
  digestNonceTtlSeconds: number;
}

export interface HashSettings {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Environment = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

// OWASP's minimum argon2id parameters: 19 MiB of memory, two passes, one lane.
const MIN_HASH_MEMORY_KIB = 19456;
const MIN_HASH_TIME_COST = 2;

/** Reads and validates every setting; throws ConfigError naming the first bad one. */
export function loadConfig(env: Environment = process.env): Readonly<Config> {
  const host = hostName(env);
  const port = integer(env, 'PORT', 8080, 0, 65535);
  const dataDir = path.resolve(text(env, 'DATA_DIR', './data'));
  const databaseUrl = databaseLocation(env, dataDir);
  const publicUrl = baseUrl(env, `http://${linkHost(host)}:${port}`);
  const smtpUrl = smtpLocation(env);

  const config: Config = {
    host,
    port,
    dataDir,
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    databaseStatementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 600000),
    databaseConnectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT_MS', 5000, 100, 600000),
    publicUrl,
    smtpUrl,
    mailFrom: mailbox(env, 'MAIL_FROM', `sigma-accounts <no-reply@${new URL(publicUrl).hostname || 'localhost'}>`),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    trustedProxies: proxyList(env),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    sessionTtlSeconds: integer(env, 'SESSION_TTL_SECONDS', 1209600, 60, 10 * 365 * 86400),
    sessionIdleTimeoutSeconds: integer(env, 'SESSION_IDLE_TIMEOUT_SECONDS', 0, 0, 10 * 365 * 86400),
    confirmTokenTtlSeconds: integer(env, 'CONFIRM_TOKEN_TTL_SECONDS', 72 * 3600, 60, 365 * 86400),
    resetTokenTtlSeconds: integer(env, 'RESET_TOKEN_TTL_SECONDS', 3600, 60, 7 * 86400),
    mailThrottleSeconds: integer(env, 'MAIL_THROTTLE_SECONDS', 60, 0, 86400),
    mailMaxAttempts: integer(env, 'MAIL_MAX_ATTEMPTS', 8, 1, 100),
    mailPollMilliseconds: integer(env, 'MAIL_POLL_MS', 1000, 10, 600000),
    mailLeaseSeconds: integer(env, 'MAIL_LEASE_SECONDS', 60, 1, 3600),
    digestAuth: onOff(env, 'DIGEST_AUTH', false),
    digestNonceTtlSeconds: integer(env, 'DIGEST_NONCE_TTL_SECONDS', 300, 1, 86400),
    hash: {
      memoryKib: integer(env, 'HASH_MEMORY_KIB', MIN_HASH_MEMORY_KIB, MIN_HASH_MEMORY_KIB, 4 * 1024 * 1024),
      timeCost: integer(env, 'HASH_TIME_COST', MIN_HASH_TIME_COST, MIN_HASH_TIME_COST, 100),
      parallelism: integer(env, 'HASH_PARALLELISM', 1, 1, 16),
    },
  };

  return Object.freeze({ ...config, hash: Object.freeze(config.hash) });
}

function raw(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function text(env: Environment, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

function hostName(env: Environment): string {
  const value = text(env, 'HOST', '127.0.0.1');
  if (isIP(value) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value)) {
    throw new ConfigError('HOST must be an IP address or a host name such as 127.0.0.1, 0.0.0.0 or localhost');
  }
  return value;
}

function integer(env: Environment, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;

  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

function onOff(env: Environment, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;

  if (['on', 'true', '1'].includes(value.toLowerCase())) return true;
  if (['off', 'false', '0'].includes(value.toLowerCase())) return false;
  throw new ConfigError(`${name} must be on or off`);
}

function oneOf(env: Environment, name: string, fallback: string, choices: string[]): string {
  const value = raw(env, name) ?? fallback;
  if (!choices.includes(value)) {
    throw new ConfigError(`${name} must be one of: ${choices.join(', ')}`);
  }
  return value;
}

function databaseLocation(env: Environment, dataDir: string): string {
  const value = raw(env, 'DATABASE_URL');
  if (value === undefined) return `sqlite:${path.join(dataDir, 'sigma-accounts.sqlite')}`;

  if (/^postgres(ql)?:\/\//.test(value) && URL.canParse(value) && new URL(value).hostname !== '') return value;
  if (value.startsWith('sqlite:') && value.length > 'sqlite:'.length) {
    return `sqlite:${path.resolve(value.slice('sqlite:'.length))}`;
  }
  throw new ConfigError('DATABASE_URL must be a postgres:// URL or sqlite:PATH');
}

function baseUrl(env: Environment, fallback: string): string {
  const value = raw(env, 'PUBLIC_URL') ?? fallback;
  const url = URL.canParse(value) ? new URL(value) : null;

  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash) {
    throw new ConfigError('PUBLIC_URL must be an http:// or https:// URL without a query or fragment');
  }
  return url.href.replace(/\/+$/, '');
}

function smtpLocation(env: Environment): string | null {
  const value = raw(env, 'SMTP_URL');
  if (value === undefined) return null;

  // The message never repeats the value: an SMTP URL may carry a password.
  if (!URL.canParse(value) || !['smtp:', 'smtps:'].includes(new URL(value).protocol)) {
    throw new ConfigError('SMTP_URL must be an smtp:// or smtps:// URL');
  }
  return value;
}

function mailbox(env: Environment, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  if (/[\r\n]/.test(value) || !/[^\s<@]+@[^\s>@]+/.test(value)) {
    throw new ConfigError(`${name} must be an address such as "Name <no-reply@example.com>"`);
  }
  return value;
}

/** Returns the host for default links, since a browser cannot open a wildcard listen address. */
function linkHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function proxyList(env: Environment): string[] | false {
  const value = raw(env, 'TRUSTED_PROXIES');
  if (value === undefined) return false;

  const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = address ? isIP(address) : 0;
    const maxBits = family === 6 ? 128 : 32;
    const bitsValid = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);

    if (family === 0 || !bitsValid || extra !== undefined) {
      throw new ConfigError('TRUSTED_PROXIES must be a comma-separated list of IP addresses or CIDR ranges');
    }
  }
  return entries;
}
