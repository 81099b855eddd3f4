// Property-based fuzzing of every endpoint over real HTTP. FUZZ_RUNS sets the number of generated batches
// (default 200, each of one to four requests) and FUZZ_SEED the seed (fixed by default, so CI runs the same
// requests every time). docs/security.md gives the command for a long run.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import fc from 'fast-check';

import { parseEmailAddress } from '../src/accounts/email-address.js';
import { verifyAuditChain } from '../src/audit/chain-verification.js';
import { digestOf } from '../src/crypto-tokens.js';
import { issueEmailChangeToken } from '../src/email-change/email-change-tokens.js';
import { issueResetToken } from '../src/recovery/reset-tokens.js';
import { openStore } from '../src/storage/store.js';
import { activeAccount, signUp, uniqueAddress } from './helpers/accounts.js';
import { action } from './helpers/client.js';
import { errorListProblem } from './helpers/error-list-check.js';
import { PROMO_CODES } from './helpers/fuzz-bodies.js';
import { type FuzzSurface, materialize, type RequestSpec, requestArbitrary, requestSpec } from './helpers/fuzz-requests.js';
import { alterFixtureValue, type FixtureName, type FixtureRef } from './helpers/fuzz-values.js';
import { type RawRequest, type RawResponse, sendRaw } from './helpers/raw-http.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { databaseUrlFor, sqlRows } from './helpers/store.js';
import { type Snapshot, snapshotDifference, snapshotTables, type TableColumns, tableColumns } from './helpers/table-snapshot.js';

const RUNS = wholeNumberSetting('FUZZ_RUNS', 200);
const SEED = wholeNumberSetting('FUZZ_SEED', 20_260_601);
const MAX_BATCH = 4;
const MAX_SHRINKS = 150;

// Throttling stays on, with limits that the fuzzer's thousands of failed password checks and sign-ups
// from one address never reach, so that the requests get past it to the code behind it.
const GENEROUS_THROTTLE = {
  THROTTLE_FAILURES_PER_IP: '1000000',
  THROTTLE_FAILURES_PER_ACCOUNT: '1000000',
  THROTTLE_CREATE_PER_IP: '1000000',
  THROTTLE_CREATE_PER_ADDRESS: '1000000',
  THROTTLE_RESET_PER_IP: '1000000',
  THROTTLE_RESET_PER_ADDRESS: '1000000',
};

// Methods after which an accepted request cannot have ended a fixture's session or changed its password.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
// Digest nonces live 300 s by default; a fresh one is fetched well before that.
const NONCE_REFRESH_MS = 60_000;

/**
 * Failures that fuzzing found, replayed on every run so that a fix stays fixed: the seed whose run found
 * each one, and its counterexample, shrunk further by hand.
 */
const RECORDED_COUNTEREXAMPLES: Array<{ name: string; foundBy: string; batch: RequestSpec[] }> = [
  {
    // The body parser walked the parsed value recursively, and 4,000 nested arrays overflowed the stack: 500.
    name: 'deeply nested body',
    foundBy: 'FUZZ_SEED=20260601',
    batch: [
      requestSpec({
        route: 'POST /api/2.0/accounts/action/?do=login',
        method: 'POST',
        path: ['/api/2.0/accounts/action/'],
        query: [['do', 'login']],
        contentType: 'application/json',
        body: { kind: 'nested', depth: 4000, opener: '[' },
      }),
    ],
  },
  {
    // The 431 that the server writes when Node's parser rejects a request head over 16 KiB had a body, which
    // a response to HEAD must not have (RFC 9110, section 9.3.2), so clients read the body as garbage.
    name: 'HEAD with oversized headers',
    foundBy: 'FUZZ_SEED=7',
    batch: [
      requestSpec({
        route: 'GET /accounts/reset/',
        method: 'HEAD',
        path: ['/accounts/reset/'],
        query: [['token', 'a'.repeat(17_000)]],
      }),
    ],
  },
];

function wholeNumberSetting(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, not "${value}"`);
  return Number(value);
}

/** An active account of the fuzz test, logged in, with the public id of its session. */
interface Member {
  email: string;
  password: string;
  sessionid: string;
  csrftoken: string;
  publicId: string;
}

describe('fuzzing every endpoint', { timeout: 30 * 60_000 }, () => {
  let smtp: SmtpSink;
  let server: TestServer;
  let tables: TableColumns;
  let surface: FuzzSurface;
  const agent = new http.Agent({ keepAlive: false });

  const values = {} as Record<FixtureName, string>;
  let nonceFetchedAt = 0;

  const resolve = (ref: FixtureRef): string => alterFixtureValue(values[ref.name], ref.variant);
  const snapshot = (): Promise<Snapshot> => snapshotTables(server.dataDir, tables);

  async function publicIdOf(sessionid: string): Promise<string> {
    const [row] = await sqlRows<{ public_id: string }>(server.dataDir, 'SELECT public_id FROM sessions WHERE digest = ?', [digestOf(sessionid)]);
    if (!row) throw new Error('the session of a fixture account is not in the sessions table');
    return row.public_id;
  }

  async function newMember(prefix: string): Promise<Member> {
    const account = await activeAccount(server.url, smtp, uniqueAddress(prefix));
    const sessionid = account.cookies.sessionid ?? '';
    return { email: account.email, password: account.password, sessionid, csrftoken: account.cookies.csrftoken ?? '', publicId: await publicIdOf(sessionid) };
  }

  function remember(owner: 'alice' | 'bob', member: Member): void {
    values[`${owner}.email`] = member.email;
    values[`${owner}.password`] = member.password;
    values[`${owner}.sessionid`] = member.sessionid;
    values[`${owner}.csrftoken`] = member.csrftoken;
    values[`${owner}.publicId`] = member.publicId;
  }

  /**
   * Gives alice and bob a live session again after an accepted request ended it: a new login, or a new
   * account when the fuzzer changed the password or deleted the account.
   */
  async function refreshMembers(): Promise<void> {
    for (const owner of ['alice', 'bob'] as const) {
      const cookies = { sessionid: values[`${owner}.sessionid`], csrftoken: values[`${owner}.csrftoken`] };
      if ((await action(server.url, 'check_login', { cookies })).status === 200) continue;

      const login = await action(server.url, 'login', { body: { username: values[`${owner}.email`], password: values[`${owner}.password`] } });
      const sessionid = login.cookies.sessionid?.value;
      const csrftoken = login.cookies.csrftoken?.value;
      if (login.status === 200 && sessionid && csrftoken) {
        remember(owner, { email: values[`${owner}.email`], password: values[`${owner}.password`], sessionid, csrftoken, publicId: await publicIdOf(sessionid) });
      } else {
        remember(owner, await newMember(owner));
      }
    }
  }

  /** Takes a Digest nonce from a 401 challenge, for Digest headers that get past the nonce check. */
  async function refreshNonce(): Promise<void> {
    if (Date.now() - nonceFetchedAt < NONCE_REFRESH_MS) return;

    const challenge = await action(server.url, 'check_login');
    const nonce = /Digest [^,]*(?:,[^,]*)*?nonce="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1];
    if (!nonce) throw new Error(`no Digest nonce in the challenge: ${challenge.headers.get('www-authenticate')}`);
    values['digest.nonce'] = nonce;
    nonceFetchedAt = Date.now();
  }

  /** Reads the names of a resource's actions from the error that an empty `do` gets. */
  async function actionNames(resource: string): Promise<string[]> {
    const response = await fetch(`${server.url}${resource}action/?do=`, { method: 'POST' });
    const [entry] = (await response.json()) as Array<{ error_message: string }>;
    const names = /one of (.+)$/.exec(entry?.error_message ?? '')?.[1]?.split(', ');
    if (!names || names.length === 0) throw new Error(`cannot read the actions of ${resource} from: ${entry?.error_message}`);
    return names;
  }

  /** Waits until the work that an accepted request started after its response (reset emails) is done. */
  async function settledSnapshot(): Promise<Snapshot> {
    let previous = await snapshot();
    for (let attempt = 0; attempt < 40; attempt += 1) {
      await delay(25);
      const current = await snapshot();
      if (snapshotDifference(previous, current) === null) return current;
      previous = current;
    }
    return previous;
  }

  before(async () => {
    smtp = new SmtpSink();
    server = await startTestServer({ SMTP_URL: await smtp.start(), DIGEST_AUTH: 'on', LOG_LEVEL: 'warn', ...GENEROUS_THROTTLE });

    remember('alice', await newMember('alice'));
    remember('bob', await newMember('bob'));

    const carol = await activeAccount(server.url, smtp, uniqueAddress('carol'));
    values['carol.email'] = carol.email;
    values['carol.password'] = carol.password;

    const pending = uniqueAddress('pending');
    values['pending.email'] = pending;
    values['token.confirm'] = (await signUp(server.url, smtp, pending)).token;

    const disabled = await activeAccount(server.url, smtp, uniqueAddress('disabled'));
    values['disabled.email'] = disabled.email;
    values['disabled.password'] = disabled.password;
    values['unknown.email'] = uniqueAddress('nobody');

    // Tokens are issued through the store, as the server does, because the mail throttle holds back a
    // reset email to an address that just got its confirmation. Disabling takes the two steps of
    // `accounts disable`: the state, then the sessions.
    const store = await openStore(databaseUrlFor(server.dataDir));
    try {
      const now = Date.now();
      values['token.reset'] = await issueResetToken(store.tokens, carol.uuid, now, 3600);
      const newAddress = parseEmailAddress(uniqueAddress('carol-new'));
      if (!newAddress.ok) throw new Error('uniqueAddress made an invalid address');
      values['token.email'] = await issueEmailChangeToken(store.tokens, carol.uuid, newAddress.email, now, 3600);
      await store.transaction(async (stores) => {
        await stores.admin.setActive(disabled.uuid, false);
        await stores.sessions.deleteAllOf(disabled.uuid);
      });

      const codes = [
        { code: PROMO_CODES.valid, maxUses: null, expiresAt: null },
        { code: PROMO_CODES.usedUp, maxUses: 0, expiresAt: null },
        { code: PROMO_CODES.expired, maxUses: null, expiresAt: now - 1000 },
      ];
      for (const code of codes) await store.promos.insert({ ...code, grantsState: 'TRIAL', createdAt: now });
    } finally {
      await store.close();
    }

    await refreshNonce();
    tables = await tableColumns(server.dataDir);
    surface = {
      accountActions: await actionNames('/api/2.0/accounts/'),
      sessionActions: await actionNames('/api/2.0/accounts/sessions/'),
      bodyLimitBytes: server.app.initialConfig.bodyLimit ?? 65536,
    };
  });

  after(async () => {
    agent.destroy();
    await server?.stop();
    await smtp?.stop();
  });

  /**
   * Sends a batch of requests one by one and throws, with the request and response, at the first that breaks
   * the contract: a 5xx, a 4xx that is not an error list, or a rejected request that changed the database.
   */
  async function checkBatch(batch: RequestSpec[], onResponse: (spec: RequestSpec, status: number) => void = () => {}): Promise<void> {
    await refreshNonce();
    let before = await snapshot();

    for (const spec of batch) {
      const request = materialize(spec, resolve, surface.bodyLimitBytes);
      let response: RawResponse;
      try {
        response = await sendRaw(server.url, request, agent);
      } catch (error) {
        throw new Error(report(request, null, [`no response: ${(error as Error).message}`]));
      }

      onResponse(spec, response.status);
      const problems = responseProblems(request, response);
      if (problems.length > 0) throw new Error(report(request, response, problems));

      if (response.status >= 400) {
        const after = await snapshot();
        const change = snapshotDifference(before, after);
        if (change !== null) throw new Error(report(request, response, [`the rejected request changed the database:\n${change}`]));
        before = after;
        continue;
      }

      before = await settledSnapshot();
      if (!SAFE_METHODS.has(request.method) || touchesFixtures(spec)) {
        await refreshMembers();
        before = await snapshot();
      }
    }
  }

  test('hostile requests keep the contract', async (context) => {
    // Responses by route and status, printed at the end to show what the run reached.
    const outcomes = new Map<string, Map<number, number>>();
    let sent = 0;
    const count = (spec: RequestSpec, status: number) => {
      sent += 1;
      const counts = outcomes.get(spec.route) ?? new Map<number, number>();
      counts.set(status, (counts.get(status) ?? 0) + 1);
      outcomes.set(spec.route, counts);
    };

    // Each shrink step sends requests, so shrinking is capped to keep a failing run within minutes.
    const batches = fc.limitShrink(fc.array(requestArbitrary(surface), { minLength: 1, maxLength: MAX_BATCH }), MAX_SHRINKS);
    try {
      await fc.assert(
        fc.asyncProperty(batches, (batch) => checkBatch(batch, count)),
        { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
      );
    } finally {
      context.diagnostic(`seed ${SEED}, ${RUNS} runs, ${sent} requests; responses by route and status:`);
      for (const [route, counts] of [...outcomes].sort()) {
        const statuses = [...counts].sort(([left], [right]) => left - right).map(([status, number]) => `${status}x${number}`);
        context.diagnostic(`  ${route}: ${statuses.join(' ')}`);
      }
    }
  });

  for (const { name, foundBy, batch } of RECORDED_COUNTEREXAMPLES) {
    test(`counterexample: ${name}`, async (context) => {
      context.diagnostic(`found by ${foundBy}`);
      await checkBatch(batch);
    });
  }

  // Rejected requests may add audit records, so snapshots leave the audit trail out; its hash chain shows
  // whether any request changed or deleted a record.
  test('audit chain intact after fuzzing', async () => {
    const store = await openStore(databaseUrlFor(server.dataDir));
    try {
      const report = await verifyAuditChain(store.audit);
      assert.equal(report.broken, null, JSON.stringify(report.broken));
      assert.equal(report.intact, true);
    } finally {
      await store.close();
    }
  });
});

/** Whether an accepted request may have ended a fixture session although its method is safe. */
function touchesFixtures(spec: RequestSpec): boolean {
  return spec.path.some((part) => typeof part !== 'string');
}

/** Returns every way a response breaks the API contract; the state check is the caller's. */
function responseProblems(request: RawRequest, response: RawResponse): string[] {
  const problems: string[] = [];
  const underApi = request.target.startsWith('/api/');
  const hasBody = request.method !== 'HEAD';
  const contentType = String(response.headers['content-type'] ?? '');

  if (response.status >= 500) problems.push(`status ${response.status}: a hostile request must get a 4xx, never a 5xx`);
  if (response.headers['x-request-id'] === undefined) problems.push('no X-REQUEST-ID header');

  if (response.status >= 400 && response.status < 500 && hasBody) {
    if (underApi || /^application\/json\b/.test(contentType)) {
      const problem = errorListProblem(response);
      if (problem) problems.push(`the ${response.status} is not a CloudSigma error list: ${problem}`);
    }
  }
  if (response.status === 401 && response.headers['www-authenticate'] === undefined) problems.push('401 without WWW-Authenticate');
  if (response.status === 405 && response.headers.allow === undefined) problems.push('405 without Allow');
  if (response.status === 429 && response.headers['retry-after'] === undefined) problems.push('429 without Retry-After');
  if (response.status >= 300 && response.status < 400 && request.method === 'POST') problems.push(`a POST was redirected (${response.status})`);
  if (response.status >= 200 && response.status < 300 && underApi && hasBody && response.body.length === 0) problems.push('a success under /api/ with an empty body');

  return problems;
}

/** Formats a failing request and its response so that it can be replayed by hand. */
function report(request: RawRequest, response: RawResponse | null, problems: string[]): string {
  const body = request.body ?? Buffer.alloc(0);
  const shownBody = body.length > 300 ? `${JSON.stringify(body.subarray(0, 300).toString('utf8'))}... (${body.length} bytes)` : JSON.stringify(body.toString('utf8'));
  const lines = [
    ...problems,
    `request: ${request.method} ${request.target.length > 300 ? `${request.target.slice(0, 300)}...` : request.target}`,
    `request headers: ${JSON.stringify(request.headers)}`,
    `request body: ${shownBody}`,
  ];
  if (response) {
    lines.push(
      `response: ${response.status} ${String(response.headers['content-type'] ?? '(no Content-Type)')}`,
      `response body: ${JSON.stringify(response.body.subarray(0, 500).toString('utf8'))}`,
    );
  }
  return lines.join('\n');
}
