import { randomUUID } from 'node:crypto';

import cookie from '@fastify/cookie';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';

import { AccountService } from './accounts/account-service.js';
import { registerAccountRoutes } from './accounts/account-routes.js';
import type { Config } from './config.js';
import { registerConfirmPage } from './confirmation/confirm-page.js';
import { ConfirmationService } from './confirmation/confirmation-service.js';
import { Authenticator } from './http/authentication.js';
import { registerErrorHandler, sendError, toApiError } from './http/error-handler.js';
import { registerContentNegotiation } from './http/content-negotiation.js';
import { registerFormats } from './http/formats.js';
import { registerJsonBodyParser } from './http/json-body.js';
import { registerRequestLog } from './http/request-log.js';
import type { PasswordHasher } from './passwords/password-hasher.js';
import { SessionService } from './sessions/session-service.js';
import type { Store } from './storage/store.js';

export interface AppDeps {
  config: Readonly<Config>;
  store: Store;
  hasher: PasswordHasher;
  logger: Logger;
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
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustedProxies === false ? false : config.trustedProxies,
    routerOptions: { ignoreTrailingSlash: true },
    exposeHeadRoutes: false,
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors found before routing, such as a malformed percent-escape in the URL, leave as error lists too.
    frameworkErrors: (error, request, reply) => {
      sendError(request, reply, toApiError(error, request.id, config.bodyLimitBytes));
    },
    // Slow clients may not hold a connection open for long: the whole request must arrive in 30 s.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
  });

  await app.register(cookie);
  registerJsonBodyParser(app);
  registerErrorHandler(app, config.bodyLimitBytes);
  registerRequestLog(app);
  await registerContentNegotiation(app);
  await registerFormats(app);

  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/')) reply.header('Cache-Control', 'no-store');
  });

  const sessions = new SessionService(store.sessions, config.sessionTtlSeconds);
  const accounts = new AccountService(store, hasher, config, deps.onMailQueued);
  const confirmation = new ConfirmationService(store, hasher, sessions);
  const authenticator = new Authenticator(accounts, sessions);

  registerAccountRoutes(app, {
    accounts,
    confirmation,
    sessions,
    authenticator,
    sessionTtlSeconds: config.sessionTtlSeconds,
    publicUrl: config.publicUrl,
  });
  registerConfirmPage(app, confirmation);

  return app;
}
