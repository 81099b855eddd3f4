import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { MailTemplateError, MailTemplates } from './mail/mail-templates.js';

/** Settings read once from the environment at start, validated, then frozen. */
export interface Config {
  host: string;
  port: number;
  /** Processes that serve on the one port; above 1, a primary process starts and watches them. */
  workers: number;
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
  /** Name of the product in email subjects and bodies. */
  productName: string;
  /** Base URL of the links in emails, without a trailing slash. */
  mailLinkBase: string;
  /** Folder whose template files replace the shipped email templates of the same name, or null. */
  mailTemplatesDir: string | null;
  logLevel: string;
  /** `json` lines, readable `pretty` lines, or `auto`: pretty when standard output is a terminal, else JSON. */
  logFormat: LogFormatSetting;
  /** Proxies whose `X-Forwarded-*` headers are believed: a CIDR list, or false. */
  trustedProxies: string[] | false;
  bodyLimitBytes: number;
  /** Time a client has to send the whole request, and its headers, in milliseconds. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** A connection that sends nothing for this long, in milliseconds, is closed. */
  connectionTimeoutMs: number;
  /** Whether the session cookies are named `__Host-sessionid` and `__Host-csrftoken`; needs an https PUBLIC_URL. */
  cookieHostPrefix: boolean;
  /** Whether the OpenAPI document (`/api/2.0/openapi.json`) and its reference page (`/docs/`) are served. */
  apiDocs: boolean;
  /** The Pwned Passwords range API that new passwords are checked against, or null for no check. */
  pwnedPasswords: PwnedPasswordsSettings | null;
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
  /** The cache of verified Basic credentials, which spares a repeated credential its hash. */
  basicCache: CredentialCacheSettings;
  /** Whether HTTP Digest is accepted; it needs a password-equivalent hash stored per account. */
  digestAuth: boolean;
  digestNonceTtlSeconds: number;
  /**
   * Keys that sign the `async_auth` cookie: the first signs, every one verifies, so a new key can be put
   * first while cookies signed with the old one expire. Empty for a random key kept in the database.
   */
  asyncAuthKeys: readonly string[];
  throttle: ThrottleSettings;
  /** Redis server that keeps the throttling counters instead of the database, or null. */
  redisUrl: string | null;
  /** Prepended to every Redis key, so that several deployments can share one Redis. */
  redisKeyPrefix: string;
  metrics: MetricsSettings;
  /** The OTLP export of OpenTelemetry traces, or null when tracing is off. */
  tracing: TracingSettings | null;
}

export type LogFormatSetting = 'auto' | 'json' | 'pretty';

/** Settings of the OTLP/HTTP trace export, from the standard OTEL_* variables. */
export interface TracingSettings {
  /** Full URL that spans are posted to, such as http://127.0.0.1:4318/v1/traces. */
  tracesUrl: string;
  serviceName: string;
  /** Maximum time of one export, retries included, in milliseconds. */
  exportTimeoutMs: number;
}

/** Settings of the Prometheus metrics endpoints. The README describes each one. */
export interface MetricsSettings {
  /** Port of the metrics listener, or null for none. 0 picks a free port. */
  port: number | null;
  host: string;
  /** Bearer token that `/metrics` requires. With it, the public listener serves `/metrics` too. */
  token: string | null;
}

/** Limits on failed password checks and on requests that send mail; the README describes each setting. */
export interface ThrottleSettings {
  enabled: boolean;
  /** Failed password checks from one client IP per window before every further check is refused. */
  failuresPerIp: number;
  failuresWindowSeconds: number;
  /** Failed password checks of one account before each further attempt waits for a growing delay. */
  failuresPerAccount: number;
  accountDelaySeconds: number;
  accountMaxDelaySeconds: number;
  /** An account's failures are forgotten after this long without a new one. */
  accountWindowSeconds: number;
  createPerIp: number;
  createPerAddress: number;
  createWindowSeconds: number;
  resetPerIp: number;
  resetPerAddress: number;
  resetWindowSeconds: number;
}

export interface PwnedPasswordsSettings {
  /** Base URL to which the first five hex digits of a password's SHA-1 are appended; ends in `/`. */
  url: string;
  timeoutMs: number;
  /** Whether a password is accepted (`open`) or the request gets 503 (`closed`) when the check fails or times out. */
  failMode: 'open' | 'closed';
}

export interface HashSettings {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
  /** Hashes computed at once, and hashes that may wait for a turn before more are rejected with 503. */
  concurrency: number;
  queueLimit: number;
}

export interface CredentialCacheSettings {
  /** How long a verified Basic credential is remembered, in seconds; 0 turns the cache off. */
  ttlSeconds: number;
  maxEntries: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Environment = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LOG_FORMATS: LogFormatSetting[] = ['auto', 'json', 'pretty'];

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
    workers: integer(env, 'WORKERS', 1, 1, 256),
    dataDir,
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    databaseStatementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 600000),
    databaseConnectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT_MS', 5000, 100, 600000),
    publicUrl,
    smtpUrl,
    mailFrom: mailbox(env, 'MAIL_FROM', `sigma-accounts <no-reply@${new URL(publicUrl).hostname || 'localhost'}>`),
    productName: productName(env),
    mailLinkBase: mailLinkBase(env, publicUrl),
    mailTemplatesDir: mailTemplatesDir(env),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    logFormat: oneOf(env, 'LOG_FORMAT', 'auto', LOG_FORMATS) as LogFormatSetting,
    trustedProxies: proxyList(env),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    ...timeouts(env),
    cookieHostPrefix: hostPrefix(env, publicUrl),
    apiDocs: onOff(env, 'API_DOCS', true),
    pwnedPasswords: pwnedPasswords(env),
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
    asyncAuthKeys: signingKeys(env, 'ASYNC_AUTH_KEYS'),
    hash: {
      memoryKib: integer(env, 'HASH_MEMORY_KIB', MIN_HASH_MEMORY_KIB, MIN_HASH_MEMORY_KIB, 4 * 1024 * 1024),
      timeCost: integer(env, 'HASH_TIME_COST', MIN_HASH_TIME_COST, MIN_HASH_TIME_COST, 100),
      parallelism: integer(env, 'HASH_PARALLELISM', 1, 1, 16),
      concurrency: integer(env, 'HASH_CONCURRENCY', os.availableParallelism(), 1, 256),
      queueLimit: integer(env, 'HASH_QUEUE_LIMIT', 64, 0, 100000),
    },
    basicCache: {
      ttlSeconds: integer(env, 'BASIC_CACHE_SECONDS', 60, 0, 3600),
      maxEntries: integer(env, 'BASIC_CACHE_ENTRIES', 10000, 1, 10000000),
    },
    throttle: throttleSettings(env),
    redisUrl: redisLocation(env),
    redisKeyPrefix: text(env, 'REDIS_KEY_PREFIX', 'sigma-accounts:throttle:'),
    metrics: metricsSettings(env, port),
    tracing: tracingSettings(env),
  };

  return Object.freeze({ ...config, hash: Object.freeze(config.hash), basicCache: Object.freeze(config.basicCache), asyncAuthKeys: Object.freeze([...config.asyncAuthKeys]), throttle: Object.freeze(config.throttle), metrics: Object.freeze(config.metrics), tracing: config.tracing && Object.freeze(config.tracing) });
}

function raw(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function text(env: Environment, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

function hostName(env: Environment, name = 'HOST'): string {
  const value = text(env, name, '127.0.0.1');
  if (isIP(value) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value)) {
    throw new ConfigError(`${name} must be an IP address or a host name such as 127.0.0.1, 0.0.0.0 or localhost`);
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

// A signing key shorter than this is guessable offline from one signed cookie.
const MIN_SIGNING_KEY_LENGTH = 32;

function signingKeys(env: Environment, name: string): string[] {
  const value = raw(env, name);
  if (value === undefined) return [];

  const keys = value.split(',').map((key) => key.trim());
  if (keys.some((key) => key.length < MIN_SIGNING_KEY_LENGTH)) {
    throw new ConfigError(`${name} must be a comma-separated list of keys of at least ${MIN_SIGNING_KEY_LENGTH} characters each`);
  }
  return keys;
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

const MAX_PRODUCT_NAME_LENGTH = 100;

function productName(env: Environment): string {
  const value = text(env, 'PRODUCT_NAME', 'sigma-accounts');

  // The name goes into the Subject header, where a line break would start a header of its own.
  if (value.length > MAX_PRODUCT_NAME_LENGTH || /\p{Cc}/u.test(value)) {
    throw new ConfigError(`PRODUCT_NAME must be one line of at most ${MAX_PRODUCT_NAME_LENGTH} characters without control characters`);
  }
  return value;
}

function mailLinkBase(env: Environment, publicUrl: string): string {
  const value = raw(env, 'MAIL_LINK_BASE');
  if (value === undefined) return publicUrl;

  const url = URL.canParse(value) ? new URL(value) : null;
  if (!url || !['http:', 'https:'].includes(url.protocol) || /[?#]/.test(url.href) || url.username || url.password) {
    throw new ConfigError('MAIL_LINK_BASE must be an http:// or https:// URL without credentials, query or fragment, such as https://accounts.example.com');
  }
  return url.href.replace(/\/+$/, '');
}

/** Resolves MAIL_TEMPLATES_DIR and checks every template in it, so that a broken file stops the start instead of a send. */
function mailTemplatesDir(env: Environment): string | null {
  const value = raw(env, 'MAIL_TEMPLATES_DIR');
  if (value === undefined) return null;

  const dir = path.resolve(value);
  try {
    MailTemplates.load(dir);
  } catch (error) {
    if (error instanceof MailTemplateError) throw new ConfigError(`MAIL_TEMPLATES_DIR: ${error.message}`);
    throw error;
  }
  return dir;
}

/** Returns the host for default links, since a browser cannot open a wildcard listen address. */
function linkHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

const LIMIT_MAX = 1_000_000;
const WINDOW_MAX_SECONDS = 7 * 86400;

function throttleSettings(env: Environment): ThrottleSettings {
  const settings: ThrottleSettings = {
    enabled: onOff(env, 'THROTTLE', true),
    failuresPerIp: integer(env, 'THROTTLE_FAILURES_PER_IP', 100, 1, LIMIT_MAX),
    failuresWindowSeconds: integer(env, 'THROTTLE_FAILURES_WINDOW_SECONDS', 900, 1, WINDOW_MAX_SECONDS),
    failuresPerAccount: integer(env, 'THROTTLE_FAILURES_PER_ACCOUNT', 10, 1, LIMIT_MAX),
    accountDelaySeconds: integer(env, 'THROTTLE_ACCOUNT_DELAY_SECONDS', 1, 1, 86400),
    accountMaxDelaySeconds: integer(env, 'THROTTLE_ACCOUNT_MAX_DELAY_SECONDS', 900, 1, 86400),
    accountWindowSeconds: integer(env, 'THROTTLE_ACCOUNT_WINDOW_SECONDS', 3600, 1, WINDOW_MAX_SECONDS),
    createPerIp: integer(env, 'THROTTLE_CREATE_PER_IP', 30, 1, LIMIT_MAX),
    createPerAddress: integer(env, 'THROTTLE_CREATE_PER_ADDRESS', 5, 1, LIMIT_MAX),
    createWindowSeconds: integer(env, 'THROTTLE_CREATE_WINDOW_SECONDS', 3600, 1, WINDOW_MAX_SECONDS),
    resetPerIp: integer(env, 'THROTTLE_RESET_PER_IP', 30, 1, LIMIT_MAX),
    resetPerAddress: integer(env, 'THROTTLE_RESET_PER_ADDRESS', 5, 1, LIMIT_MAX),
    resetWindowSeconds: integer(env, 'THROTTLE_RESET_WINDOW_SECONDS', 3600, 1, WINDOW_MAX_SECONDS),
  };

  if (settings.accountMaxDelaySeconds < settings.accountDelaySeconds) {
    throw new ConfigError('THROTTLE_ACCOUNT_MAX_DELAY_SECONDS must be at least THROTTLE_ACCOUNT_DELAY_SECONDS');
  }
  // A shorter window would forget an account's failures while it still waits out its delay, and the next
  // attempt would start again without one.
  if (settings.accountWindowSeconds < settings.accountMaxDelaySeconds) {
    throw new ConfigError('THROTTLE_ACCOUNT_WINDOW_SECONDS must be at least THROTTLE_ACCOUNT_MAX_DELAY_SECONDS');
  }
  return settings;
}

function redisLocation(env: Environment): string | null {
  const value = raw(env, 'REDIS_URL');
  if (value === undefined) return null;

  // The message never repeats the value: a Redis URL may carry a password.
  if (!URL.canParse(value) || !['redis:', 'rediss:'].includes(new URL(value).protocol) || new URL(value).hostname === '') {
    throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL with a host, such as redis://127.0.0.1:6379');
  }
  return value;
}

// The token68 characters of RFC 7235, which a Bearer token (RFC 6750) is made of.
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// A shorter token would be within reach of guessing over the network.
const MIN_METRICS_TOKEN_LENGTH = 32;

function metricsSettings(env: Environment, port: number): MetricsSettings {
  const host = hostName(env, 'METRICS_HOST');
  const metricsPort = raw(env, 'METRICS_PORT') === undefined ? null : integer(env, 'METRICS_PORT', 0, 0, 65535);
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError('METRICS_PORT must differ from PORT, because the metrics listener is a second server');
  }

  // The message never repeats the value, because it is a secret.
  const token = raw(env, 'METRICS_TOKEN') ?? null;
  if (token !== null && (token.length < MIN_METRICS_TOKEN_LENGTH || !BEARER_TOKEN.test(token))) {
    throw new ConfigError(
      `METRICS_TOKEN must be at least ${MIN_METRICS_TOKEN_LENGTH} characters of A-Z, a-z, 0-9 and -._~+/ (trailing = allowed), such as the output of: openssl rand -base64 32`,
    );
  }
  return { port: metricsPort, host, token };
}

const MAX_SERVICE_NAME_LENGTH = 255;

/**
 * Reads the standard OTLP exporter variables. OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the URL of the traces
 * resource itself, and OTEL_EXPORTER_OTLP_ENDPOINT a base URL that `v1/traces` is appended to, as the
 * OpenTelemetry specification defines them. Without either, tracing is off and no other OTEL_* variable is read.
 */
function tracingSettings(env: Environment): TracingSettings | null {
  const tracesEndpoint = raw(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseEndpoint = raw(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  let tracesUrl: string;
  if (tracesEndpoint !== undefined) {
    tracesUrl = otlpUrl(tracesEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT').href;
  } else if (baseEndpoint !== undefined) {
    const base = otlpUrl(baseEndpoint, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    tracesUrl = new URL('v1/traces', base).href;
  } else {
    return null;
  }

  const serviceName = text(env, 'OTEL_SERVICE_NAME', 'sigma-accounts');
  if (serviceName.length > MAX_SERVICE_NAME_LENGTH || /\p{Cc}/u.test(serviceName)) {
    throw new ConfigError(`OTEL_SERVICE_NAME must be one line of at most ${MAX_SERVICE_NAME_LENGTH} characters without control characters`);
  }

  // The traces-specific variable wins over the general one, as for the endpoints.
  const timeoutName = raw(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') === undefined ? 'OTEL_EXPORTER_OTLP_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT';
  const exportTimeoutMs = integer(env, timeoutName, 10_000, 100, 600_000);

  return { tracesUrl, serviceName, exportTimeoutMs };
}

function otlpUrl(value: string, name: string): URL {
  // The message never repeats the value: a collector URL may carry credentials.
  const url = URL.canParse(value) ? new URL(value) : null;
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash) {
    throw new ConfigError(`${name} must be an http:// or https:// URL without a query or fragment, such as http://127.0.0.1:4318`);
  }
  return url;
}

function timeouts(env: Environment): Pick<Config, 'requestTimeoutMs' | 'headersTimeoutMs' | 'connectionTimeoutMs'> {
  const requestTimeoutMs = integer(env, 'REQUEST_TIMEOUT_MS', 30_000, 1000, 3_600_000);
  const headersTimeoutMs = integer(env, 'HEADERS_TIMEOUT_MS', 10_000, 1000, 3_600_000);
  const connectionTimeoutMs = integer(env, 'CONNECTION_TIMEOUT_MS', 60_000, 1000, 3_600_000);

  // Node's HTTP server rejects a headers timeout longer than the request timeout.
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError('HEADERS_TIMEOUT_MS must be at most REQUEST_TIMEOUT_MS');
  }
  return { requestTimeoutMs, headersTimeoutMs, connectionTimeoutMs };
}

function hostPrefix(env: Environment, publicUrl: string): boolean {
  const enabled = onOff(env, 'COOKIE_HOST_PREFIX', false);

  // Browsers drop a __Host- cookie that lacks Secure, and Secure cookies need HTTPS.
  if (enabled && !publicUrl.startsWith('https://')) {
    throw new ConfigError('COOKIE_HOST_PREFIX=on requires an https:// PUBLIC_URL, because browsers accept __Host- cookies only over HTTPS');
  }
  return enabled;
}

function pwnedPasswords(env: Environment): PwnedPasswordsSettings | null {
  const failMode = oneOf(env, 'PWNED_PASSWORDS_FAIL', 'open', ['open', 'closed']) as PwnedPasswordsSettings['failMode'];
  const timeoutMs = integer(env, 'PWNED_PASSWORDS_TIMEOUT_MS', 2000, 100, 60_000);
  const value = raw(env, 'PWNED_PASSWORDS_URL');
  if (value === undefined) return null;

  const url = URL.canParse(value) ? new URL(value) : null;
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username || url.password) {
    throw new ConfigError('PWNED_PASSWORDS_URL must be an http:// or https:// URL without a query, such as https://api.pwnedpasswords.com/range/');
  }
  return { url: url.href.endsWith('/') ? url.href : `${url.href}/`, timeoutMs, failMode };
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
