import cookie from '@fastify/cookie';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';

import { AccountService } from './accounts/account-service.js';
import { registerApiTokenRoutes } from './api-tokens/api-token-routes.js';
import { ApiTokenService } from './api-tokens/api-token-service.js';
import { newSecret } from './crypto-tokens.js';
import { CredentialCache } from './passwords/credential-cache.js';
import { parseEmailForLookup } from './accounts/email-address.js';
import { ACCOUNT_ACTIONS_SUMMARY, accountActions } from './accounts/account-routes.js';
import { registerApiDocs } from './api-docs/api-docs-routes.js';
import { RouteCatalog } from './api-docs/route-catalog.js';
import { registerAuditRoutes } from './audit/audit-routes.js';
import { registerActions } from './http/actions.js';
import type { Config } from './config.js';
import { registerConfirmPage } from './confirmation/confirm-page.js';
import { registerPageAssets } from './pages/page.js';
import { ConfirmationService } from './confirmation/confirmation-service.js';
import { DigestAuth } from './digest/digest-auth.js';
import { deletionActions } from './deletion/deletion-routes.js';
import { DeletionService } from './deletion/deletion-service.js';
import { registerEmailChangePage } from './email-change/email-change-page.js';
import { emailChangeActions } from './email-change/email-change-routes.js';
import { EmailChangeService } from './email-change/email-change-service.js';
import { Authenticator, REALM } from './http/authentication.js';
import { answerClientError } from './http/client-errors.js';
import { registerErrorHandler, sendError, toApiError } from './http/error-handler.js';
import { registerContentNegotiation } from './http/content-negotiation.js';
import { registerFormats } from './http/formats.js';
import { registerJsonBodyParser } from './http/json-body.js';
import { requestIdGenerator } from './http/request-id.js';
import { registerRequestLog } from './http/request-log.js';
import { MAX_HEADER_BYTES, registerUrlLimit, TIMEOUT_CHECK_INTERVAL_MS } from './http/request-limits.js';
import { registerSessionCookies } from './http/session-cookies.js';
import { registerMetrics } from './metrics/register-metrics.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import { MailComposer } from './mail/mail-composer.js';
import { MailTemplates } from './mail/mail-templates.js';
import { NewPasswordCheck } from './passwords/new-password-check.js';
import type { PasswordHasher } from './passwords/password-hasher.js';
import { PwnedPasswords } from './passwords/pwned-passwords.js';
import { registerProfileRoutes } from './profile/profile-routes.js';
import { registerHealthRoutes } from './health/health-routes.js';
import { ProfileService } from './profile/profile-service.js';
import { PromoService } from './promo/promo-service.js';
import { PasswordChangeService } from './recovery/password-change-service.js';
import { PasswordUpdater } from './recovery/password-update.js';
import { recoveryActions } from './recovery/recovery-actions.js';
import { registerResetPage } from './recovery/reset-page.js';
import { PasswordResetService } from './recovery/reset-service.js';
import { AsyncAuthSigner } from './sessions/async-auth.js';
import { SessionService } from './sessions/session-service.js';
import { registerSessionRoutes } from './sessions/session-routes.js';
import type { Store } from './storage/store.js';
import { startThrottling } from './throttle/throttling.js';
import type { Tracing } from './tracing/tracing.js';
import { registerTwoFactorPage } from './two-factor/two-factor-page.js';
import { twoFactorActions } from './two-factor/two-factor-routes.js';
import { TwoFactorService } from './two-factor/two-factor-service.js';

export interface AppDeps {
  config: Readonly<Config>;
  store: Store;
  hasher: PasswordHasher;
  metrics: ServerMetrics;
  logger: Logger;
  /** Null unless an OTLP endpoint is set; without it no tracing code runs. */
  tracing: Tracing | null;
  /** Called after a request committed mail to the outbox, to start delivery without waiting for a poll. */
  onMailQueued: () => void;
}

/** Builds the HTTP application over open stores; listening and shutdown are the caller's. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, store, hasher } = deps;

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Fastify's own two lines per request are replaced by the one line of registerRequestLog.
    logController: new LogController({ disableRequestLogging: true }),
    // X-Request-ID is taken only from a trusted proxy, by requestIdGenerator rather than requestIdHeader.
    genReqId: requestIdGenerator(config.trustedProxies),
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustedProxies === false ? false : config.trustedProxies,
    routerOptions: { ignoreTrailingSlash: true },
    exposeHeadRoutes: false,
    // During a graceful stop, requests on open connections are still served rather than refused.
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors found before routing, such as a malformed percent-escape in the URL, leave as error lists too.
    frameworkErrors: (error, request, reply) => {
      sendError(request, reply, toApiError(error, request.id, config.bodyLimitBytes));
    },
    // Slow clients may not hold a connection open for long: the headers must arrive within
    // HEADERS_TIMEOUT_MS and the whole request within REQUEST_TIMEOUT_MS, or the client gets a 408.
    http: {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
  });

  // First, so that every other hook runs inside the request's span.
  deps.tracing?.traceRequests(app);
  // Before any route, so that the OpenAPI document is built from every route.
  const routeCatalog = RouteCatalog.collect(app);
  await app.register(cookie);
  registerJsonBodyParser(app);
  registerErrorHandler(app, config.bodyLimitBytes);
  registerRequestLog(app);
  registerUrlLimit(app);
  registerSessionCookies(app, config.cookieHostPrefix);
  await registerContentNegotiation(app);
  await registerFormats(app);

  // API responses are never cached, unless the route allows it, as the OpenAPI document does.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/') && !reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
  });

  const sessions = new SessionService(store.sessions, config.sessionTtlSeconds, { idleTimeoutSeconds: config.sessionIdleTimeoutSeconds });
  const digest = config.digestAuth ? await startDigest(app, store, config.digestNonceTtlSeconds) : null;
  const credentialCache = new CredentialCache({ ttlMs: config.basicCache.ttlSeconds * 1000, maxEntries: config.basicCache.maxEntries });
  // loadConfig has checked the override folder already. This reads it again, together with the shipped templates.
  const mail = new MailComposer(MailTemplates.load(config.mailTemplatesDir), config);
  const accounts = new AccountService(store, hasher, config, mail, deps.onMailQueued, digest, credentialCache);
  const pwned = config.pwnedPasswords ? new PwnedPasswords(config.pwnedPasswords) : null;
  const newPasswords = new NewPasswordCheck(pwned);
  const confirmation = new ConfirmationService(store, hasher, sessions, newPasswords, digest);
  const throttling = await startThrottling(app, config, store, deps.metrics.countThrottled);
  const twoFactor = new TwoFactorService(store, hasher, sessions, mail, deps.onMailQueued, config.productName);
  const apiTokens = new ApiTokenService(store);
  const authenticator = new Authenticator(accounts, sessions, digest, throttling.credentials, twoFactor, apiTokens);
  const profiles = new ProfileService(store);
  const passwordUpdater = new PasswordUpdater(hasher, digest, mail, newPasswords);
  const passwordResets = new PasswordResetService(store, passwordUpdater, sessions, config, mail, deps.onMailQueued);
  const passwordChanges = new PasswordChangeService(store, hasher, passwordUpdater, sessions, deps.onMailQueued);
  const emailChange = new EmailChangeService(store, hasher, config, mail, deps.onMailQueued);

  // Every feature contributes its actions to the one `/api/2.0/accounts/action/?do=` resource.
  const accountDeps = {
    accounts,
    confirmation,
    sessions,
    authenticator,
    promos: new PromoService(store.promos),
    throttling,
    store,
    sessionTtlSeconds: config.sessionTtlSeconds,
    publicUrl: config.publicUrl,
    asyncAuth: asyncAuthSigner(store, config.asyncAuthKeys),
  };
  const actions = {
    ...accountActions(accountDeps),
    ...recoveryActions({ ...accountDeps, passwordResets, passwordChanges }),
    ...emailChangeActions({ emailChange, sessions, authenticator, throttling, publicUrl: config.publicUrl }),
    ...twoFactorActions({ twoFactor, sessions, authenticator, throttling, store, publicUrl: config.publicUrl, sessionTtlSeconds: config.sessionTtlSeconds }),
    ...deletionActions({ deletion: new DeletionService(store, hasher), sessions, authenticator, throttling, publicUrl: config.publicUrl }),
  };
  // Before the first route, because the metrics hooks are added to each route as it is registered.
  registerMetrics(app, deps.metrics, Object.keys(actions));
  registerActions(app, '/api/2.0/accounts/', actions, ACCOUNT_ACTIONS_SUMMARY);
  registerPageAssets(app);
  registerConfirmPage(app, confirmation, config.productName);
  registerResetPage(app, passwordResets, config.productName);
  // Reset emails are queued after their response, so closing waits for them before the store closes.
  app.addHook('onClose', () => passwordResets.settle());
  registerEmailChangePage(app, emailChange, config.productName);
  registerProfileRoutes(app, { profiles, authenticator, sessions, publicUrl: config.publicUrl });
  registerSessionRoutes(app, { sessions, authenticator, store, publicUrl: config.publicUrl });
  registerApiTokenRoutes(app, { apiTokens, authenticator, sessions, publicUrl: config.publicUrl });
  registerTwoFactorPage(app, config.productName);
  registerAuditRoutes(app, { audit: store.audit, authenticator });
  registerHealthRoutes(app, store);
  if (config.apiDocs) registerApiDocs(app, routeCatalog, config);

  return app;
}

/**
 * Returns the signer of `async_auth` cookies. Without ASYNC_AUTH_KEYS its key is a random one that the first
 * node to need it stores in the database, so that every node shares it.
 */
function asyncAuthSigner(store: Store, keys: readonly string[]): () => Promise<AsyncAuthSigner> {
  let signer: Promise<AsyncAuthSigner> | null = null;
  return () => {
    signer ??= (async () => new AsyncAuthSigner(keys.length > 0 ? keys : [await store.digest.secret('async-auth-key', newSecret, Date.now())]))();
    // A failure is not kept, so that the next request tries again.
    signer.catch(() => {
      signer = null;
    });
    return signer;
  };
}

// Expired nonces are swept every ten minutes rather than on each request.
const NONCE_SWEEP_MS = 10 * 60 * 1000;

async function startDigest(app: FastifyInstance, store: Store, nonceTtlSeconds: number): Promise<DigestAuth> {
  const digest = new DigestAuth(store.digest, REALM, nonceTtlSeconds, async (username) => {
    const parsed = parseEmailForLookup(username);
    return parsed.ok ? store.accounts.findByEmailKey(parsed.email.key) : null;
  });
  await digest.init();

  const sweeper = setInterval(() => {
    digest.sweep().catch((error: unknown) => app.log.warn({ err: error }, 'expired Digest nonces could not be deleted'));
  }, NONCE_SWEEP_MS);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));

  return digest;
}
