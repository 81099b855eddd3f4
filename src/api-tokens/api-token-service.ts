import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import { digestOf, newSecret } from '../crypto-tokens.js';
import type { ClientInfo } from '../sessions/session-service.js';
import type { Store } from '../storage/store.js';
import type { ApiTokenRecord, LiveApiToken } from './api-token-store.js';

/** The settings of a new token: a name its owner recognises, an optional expiry, and whether it may only read. */
export interface NewApiToken {
  name: string;
  expiresAt: number | null;
  readOnly: boolean;
}

// Secret scanners recognise a leaked token by its prefix.
const TOKEN_PREFIX = 'sat_';
export const TOKEN_SHAPE = /^sat_[A-Za-z0-9_-]{43}$/;
export const MAX_TOKENS_PER_ACCOUNT = 100;
// last_used_at is written at most once a minute per token, as sessions' last_seen_at is.
const TOUCH_INTERVAL_MS = 60_000;

/** Creates, lists and revokes the API tokens of accounts, and finds the token of a Bearer secret. */
export class ApiTokenService {
  constructor(private readonly store: Store) {}

  /** Creates a token; returns its secret, which is stored only as a digest, or null when the account has too many. */
  async create(accountUuid: string, token: NewApiToken, now: number, origin: ClientInfo): Promise<{ record: ApiTokenRecord; secret: string } | null> {
    const secret = `${TOKEN_PREFIX}${newSecret()}`;
    const record: ApiTokenRecord = { uuid: randomUUID(), accountUuid, ...token, createdAt: now, lastUsedAt: null };

    return this.store.transaction(async (stores) => {
      await stores.apiTokens.lockOwner(accountUuid);
      if ((await stores.apiTokens.listOf(accountUuid)).length >= MAX_TOKENS_PER_ACCOUNT) return null;
      await stores.apiTokens.insert(record, digestOf(secret));
      await stores.audit.record({ type: 'create_api_token', actor: accountUuid, accountUuid, client: origin, details: `token ${record.uuid}` });
      return { record, secret };
    });
  }

  listOf(accountUuid: string): Promise<ApiTokenRecord[]> {
    return this.store.apiTokens.listOf(accountUuid);
  }

  /** Revokes a token at once, on every node; returns false when the account has no token of this uuid. */
  revoke(accountUuid: string, uuid: string, origin: ClientInfo): Promise<boolean> {
    const event = { type: 'revoke_api_token', actor: accountUuid, accountUuid, client: origin } as const;
    return this.store.transaction(async (stores) => {
      const revoked = await stores.apiTokens.delete(accountUuid, uuid);
      await stores.audit.record(revoked ? { ...event, details: `token ${uuid}` } : { ...event, failure: 'not_found' });
      return revoked;
    });
  }

  /**
   * Returns the live token of a Bearer secret, or null. Records the use at most once a minute; `log`, the
   * request's logger, receives the failure of that write, which never fails the request.
   */
  async authenticate(secret: string, now: number, log: Pick<Logger, 'warn'>): Promise<LiveApiToken | null> {
    // Values that no token can have are rejected without a store round trip.
    if (!TOKEN_SHAPE.test(secret)) return null;

    const token = await this.store.apiTokens.findValid(digestOf(secret), now);
    if (!token || (token.lastUsedAt !== null && now - token.lastUsedAt < TOUCH_INTERVAL_MS)) return token;

    try {
      await this.store.apiTokens.touch(token.uuid, now, now - TOUCH_INTERVAL_MS);
      return { ...token, lastUsedAt: now };
    } catch (error) {
      // The token was found valid, so the request goes on without the record of its use.
      log.warn({ err: error, token: token.uuid, account: token.accountUuid }, 'API token last-used time could not be written');
      return token;
    }
  }
}
