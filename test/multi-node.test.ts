import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import type { ParsedMail } from 'mailparser';
import pg from 'pg';

import { PASSWORD, uniqueAddress } from './helpers/accounts.js';
import { action, type ApiResponse, errorList } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/outbox.js';
import { errorLogLines, type ServerProcess, startServerProcess } from './helpers/server-process.js';
import { BULK_SIGN_UPS } from './helpers/server.js';
import { confirmationLinkIn, type HeldMessage, SmtpSink, tokenOf } from './helpers/smtp-sink.js';
import { POSTGRES_ADMIN_URL, TEST_DATABASE_PREFIX, testStore } from './helpers/store.js';

const SKIP = testStore() === 'postgres' ? false : 'PostgreSQL only; runs with TEST_STORE=postgres, as the second pass of npm test';

const LEASE_SECONDS = 2;
// After mail arrives, the tests wait this long (many mail-worker polls of 50 ms by two nodes) before
// counting again, so that a duplicate would have had time to arrive.
const SETTLE_MS = 1500;
const MAIL_TIMEOUT_MS = 15_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface OutboxRow {
  id: string;
  recipient: string;
  message_id: string;
  attempts: number;
  lease_until: number | null;
  sent_at: number | null;
  failed_at: number | null;
}

/** `address` with the case of its letters set by the bits of `variant`, so that variants 0 to 31 differ. */
function caseVariant(address: string, variant: number): string {
  let letterIndex = 0;
  return [...address]
    .map((character) => {
      if (!/[a-z]/i.test(character)) return character;
      const upper = ((variant >> (letterIndex % 5)) & 1) === 1;
      letterIndex += 1;
      return upper ? character.toUpperCase() : character.toLowerCase();
    })
    .join('');
}

function recipientsOf(mail: ParsedMail): string[] {
  const to = mail.to ?? [];
  const groups = Array.isArray(to) ? to : [to];
  return groups.flatMap((group) => group.value.map((entry) => (entry.address ?? '').toLowerCase()));
}

/** Waits for `work`, and throws an error starting with `message` when it takes longer than `milliseconds`. */
async function within<T>(work: Promise<T>, milliseconds: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${milliseconds} ms`)), milliseconds);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeResponses(responses: ApiResponse[]): string {
  return responses.map((response) => `${response.status} ${response.text.slice(0, 160)}`).join('\n');
}

describe('two nodes on one PostgreSQL database', { skip: SKIP }, () => {
  const databaseName = `${TEST_DATABASE_PREFIX}multi_node_${randomBytes(6).toString('hex')}`;
  const databaseUrl = (() => {
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${databaseName}`;
    return url.href;
  })();

  // One SMTP sink per node, so that every delivered message shows which node sent it.
  const sinkA = new SmtpSink();
  const sinkB = new SmtpSink();
  // Released in `after`, so that no SMTP connection keeps the sinks from stopping.
  const heldMessages: HeldMessage[] = [];
  let nodeA: ServerProcess | undefined;
  let nodeB: ServerProcess | undefined;
  let pool: pg.Pool | undefined;

  const nodes = () => {
    assert.ok(nodeA, 'node A started');
    assert.ok(nodeB, 'node B started');
    return { a: nodeA, b: nodeB };
  };

  const rows = async <T extends object>(text: string, parameters: unknown[] = []): Promise<T[]> => {
    assert.ok(pool, 'the test database is open');
    const result = await pool.query(text, parameters);
    return result.rows as T[];
  };

  const outboxRowsTo = (addresses: string[]) =>
    rows<OutboxRow>(
      `SELECT id, recipient, message_id, attempts, lease_until, sent_at, failed_at FROM outbox
       WHERE lower(recipient) = ANY($1) ORDER BY created_at, id`,
      [addresses.map((address) => address.toLowerCase())],
    );

  /** Lists every message either sink accepted, with the node that sent it. */
  const delivered = () => [
    ...sinkA.messages.map((mail) => ({ node: 'A', mail })),
    ...sinkB.messages.map((mail) => ({ node: 'B', mail })),
  ];
  const deliveredTo = (address: string) => delivered().filter(({ mail }) => recipientsOf(mail).includes(address.toLowerCase()));

  const waitForMail = async (address: string, count = 1): Promise<ParsedMail[]> => {
    await waitUntil(() => deliveredTo(address).length >= count, `${count} message(s) reached ${address}`, MAIL_TIMEOUT_MS);
    return deliveredTo(address).map(({ mail }) => mail);
  };

  /** Returns the error-level log lines that both nodes wrote since `marks` (from `logMarks`). */
  const errorsSince = (marks: { a: number; b: number }) => {
    const { a, b } = nodes();
    return [...errorLogLines(a.logLines.slice(marks.a)), ...errorLogLines(b.logLines.slice(marks.b))];
  };
  const logMarks = () => ({ a: nodes().a.logLines.length, b: nodes().b.logLines.length });

  before(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${databaseName}"`);
    } finally {
      await admin.end();
    }
    pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });

    const settings = {
      ...BULK_SIGN_UPS,
      DATABASE_URL: databaseUrl,
      MAIL_POLL_MS: '50',
      MAIL_LEASE_SECONDS: String(LEASE_SECONDS),
      LOG_LEVEL: 'info',
    };
    const [smtpA, smtpB] = await Promise.all([sinkA.start(), sinkB.start()]);

    // Started together, so both run their migrations on the fresh database at the same time.
    const started = await Promise.allSettled([
      startServerProcess({ ...settings, SMTP_URL: smtpA }),
      startServerProcess({ ...settings, SMTP_URL: smtpB }),
    ]);
    nodeA = started[0].status === 'fulfilled' ? started[0].value : undefined;
    nodeB = started[1].status === 'fulfilled' ? started[1].value : undefined;
    for (const outcome of started) {
      if (outcome.status === 'rejected') throw outcome.reason;
    }
  });

  after(async () => {
    for (const held of heldMessages) held.release();
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    await Promise.all([sinkA.stop(), sinkB.stop()]);
    await pool?.end();

    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  });

  test('session from A works on B', async () => {
    const { a, b } = nodes();
    const email = uniqueAddress('multi-session');

    const created = await action(a.url, 'create', { body: { email } });
    assert.equal(created.status, 200, created.text);
    const [mail] = await waitForMail(email);
    assert.ok(mail);
    const confirmed = await action(b.url, 'confirm', { body: { token: tokenOf(confirmationLinkIn(mail)), password: PASSWORD } });
    assert.equal(confirmed.status, 200, `confirm on B of a token mailed for A: ${confirmed.text}`);
    const accountUuid = (confirmed.body as { uuid: string }).uuid;

    const login = await action(a.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200, login.text);
    const sessionId = login.cookies.sessionid?.value;
    const csrfToken = login.cookies.csrftoken?.value;
    assert.ok(sessionId, 'login on A set a sessionid cookie');
    assert.ok(csrfToken, 'login on A set a csrftoken cookie');
    const cookies = { sessionid: sessionId, csrftoken: csrfToken };

    const [onA, onB, uuidOnB] = await Promise.all([
      action(a.url, 'check_login', { cookies }),
      action(b.url, 'check_login', { cookies }),
      action(b.url, 'check_login_with_return_uuid', { cookies }),
    ]);
    assert.equal(onA.status, 200, `check_login on A: ${onA.text}`);
    assert.equal(onB.status, 200, `check_login on B: ${onB.text}`);
    assert.equal(uuidOnB.status, 200, `check_login_with_return_uuid on B: ${uuidOnB.text}`);
    assert.deepEqual(uuidOnB.body, { uuid: accountUuid });

    const logout = await action(b.url, 'logout', { cookies, headers: { 'X-CSRFToken': csrfToken } });
    assert.equal(logout.status, 200, `logout on B with the CSRF token from A: ${logout.text}`);

    // No wait: logout must end the session on every node at once.
    const [afterOnA, afterOnB] = await Promise.all([
      action(a.url, 'check_login', { cookies }),
      action(b.url, 'check_login', { cookies }),
    ]);
    assert.equal(afterOnA.status, 401, `check_login on A right after logout on B: ${afterOnA.text}`);
    assert.equal(afterOnB.status, 401, `check_login on B right after logout on B: ${afterOnB.text}`);
  });

  test('twenty creates across nodes make one account', async () => {
    const { a, b } = nodes();
    const marks = logMarks();
    const address = uniqueAddress('multi-create');
    const variants = Array.from({ length: 20 }, (_, variant) => caseVariant(address, variant));
    assert.equal(new Set(variants).size, 20, 'twenty different spellings');

    const responses = await Promise.all(
      variants.map((email, index) => action(index % 2 === 0 ? a.url : b.url, 'create', { body: { email } })),
    );

    const failed = responses.filter((response) => response.status !== 200);
    assert.deepEqual(failed.map((response) => response.status), [], `every create returns 200:\n${describeResponses(failed)}`);
    for (const response of responses) {
      const body = response.body as { success: boolean; uuid: string };
      assert.equal(body.success, true);
      assert.match(body.uuid, UUID);
    }
    assert.equal(new Set(responses.map((response) => (response.body as { uuid: string }).uuid)).size, 20, 'every response has its own uuid');

    const accounts = await rows<{ uuid: string; state: string }>('SELECT uuid, state FROM accounts WHERE email_key = $1', [
      address.toLowerCase(),
    ]);
    assert.equal(accounts.length, 1, 'one account row');
    assert.equal(accounts[0]?.state, 'pending');
    assert.equal((await outboxRowsTo([address])).length, 1, 'one message queued');

    await waitForMail(address);
    await sleep(SETTLE_MS);
    assert.equal(deliveredTo(address).length, 1, 'one confirmation mail arrived');
    assert.deepEqual(errorsSince(marks), [], 'no node logged an error');
  });

  test('one token confirmed on both nodes once', async () => {
    const { a, b } = nodes();
    const marks = logMarks();
    const email = uniqueAddress('multi-confirm');

    const created = await action(a.url, 'create', { body: { email } });
    assert.equal(created.status, 200, created.text);
    const [mail] = await waitForMail(email);
    assert.ok(mail);
    const token = tokenOf(confirmationLinkIn(mail));

    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, index) => action(index % 2 === 0 ? a.url : b.url, 'confirm', { body: { token, password: PASSWORD } })),
    );

    const succeeded = responses.filter((response) => response.status === 200);
    const others = responses.filter((response) => response.status !== 200);
    assert.equal(succeeded.length, 1, `exactly one confirm succeeds:\n${describeResponses(responses)}`);
    for (const response of others) {
      assert.equal(response.status, 400, `a losing confirm is a validation error: ${response.status} ${response.text}`);
      assert.deepEqual(errorList(response).map((entry) => entry.error_point), ['token']);
    }

    const sessions = await rows<{ count: string }>(
      'SELECT count(*) AS count FROM sessions JOIN accounts ON accounts.uuid = sessions.account_uuid WHERE accounts.email_key = $1',
      [email.toLowerCase()],
    );
    assert.equal(Number(sessions[0]?.count), 1, 'only the winning confirm started a session');

    const login = await action(b.url, 'login', { body: { username: email, password: PASSWORD } });
    assert.equal(login.status, 200, `login with the password the winner set: ${login.text}`);
    assert.deepEqual(errorsSince(marks), [], 'no node logged an error');
  });

  test('outbox drained by both nodes once', async () => {
    const { a, b } = nodes();
    const marks = logMarks();
    const addresses = Array.from({ length: 60 }, () => uniqueAddress('multi-drain'));

    // Each node's first message is held at its sink while the rest are queued. Released together, both
    // workers then claim from the same backlog in tight loops, so that they race for every message.
    const holdA = sinkA.holdNext();
    const holdB = sinkB.holdNext();
    heldMessages.push(holdA, holdB);

    const responses = await Promise.all(
      addresses.map((email, index) => action(index % 2 === 0 ? a.url : b.url, 'create', { body: { email } })),
    );
    const failed = responses.filter((response) => response.status !== 200);
    assert.deepEqual(failed.map((response) => response.status), [], `every create returns 200:\n${describeResponses(failed)}`);

    await within(Promise.all([holdA.arrived, holdB.arrived]), MAIL_TIMEOUT_MS, 'both nodes did not start to send');
    holdA.release();
    holdB.release();

    await waitUntil(
      () => addresses.every((address) => deliveredTo(address).length > 0),
      'every address received its mail',
      MAIL_TIMEOUT_MS,
    );
    await sleep(SETTLE_MS);

    for (const address of addresses) {
      assert.equal(deliveredTo(address).length, 1, `one message reached ${address}`);
    }

    const outbox = await outboxRowsTo(addresses);
    assert.equal(outbox.length, addresses.length, 'one outbox row per address');
    const deliveredIds = addresses.flatMap((address) => deliveredTo(address).map(({ mail }) => mail.messageId));
    for (const row of outbox) {
      assert.notEqual(row.sent_at, null, `outbox row ${row.id} is marked sent`);
      assert.equal(row.failed_at, null, `outbox row ${row.id} is not given up`);
      assert.equal(row.attempts, 1, `outbox row ${row.id} was claimed by one node once`);
      assert.equal(
        deliveredIds.filter((messageId) => messageId === row.message_id).length,
        1,
        `Message-ID ${row.message_id} arrived once`,
      );
    }

    const senders = new Set(addresses.flatMap((address) => deliveredTo(address).map(({ node }) => node)));
    assert.deepEqual([...senders].sort(), ['A', 'B'], 'both nodes delivered part of the outbox');
    assert.deepEqual(errorsSince(marks), [], 'no node logged an error');
  });

  test('mail throttle holds across nodes', async () => {
    const { a, b } = nodes();
    const email = uniqueAddress('multi-throttle');

    const first = await action(a.url, 'create', { body: { email } });
    assert.equal(first.status, 200, first.text);
    await waitForMail(email);

    const second = await action(b.url, 'create', { body: { email } });
    assert.equal(second.status, 200, second.text);
    await sleep(SETTLE_MS);

    assert.equal(deliveredTo(email).length, 1, 'the second create within the throttle window sent no mail');
    assert.equal((await outboxRowsTo([email])).length, 1, 'the second create queued no mail');
  });

  // Last, because it leaves one node dead.
  test('killed node leaves its mail to the other', async () => {
    const { a, b } = nodes();
    const email = uniqueAddress('multi-kill');

    const holdA = sinkA.holdNext();
    const holdB = sinkB.holdNext();
    heldMessages.push(holdA, holdB);

    const created = await action(a.url, 'create', { body: { email } });
    assert.equal(created.status, 200, created.text);

    // Either node may claim the message. The sink that received it shows which one did.
    const holder = await within(
      Promise.race([holdA.arrived.then(() => 'A' as const), holdB.arrived.then(() => 'B' as const)]),
      MAIL_TIMEOUT_MS,
      'no node started to send the message',
    );
    const [victim, survivor, held, otherHold, survivorSink, victimSink] =
      holder === 'A' ? [a, b, holdA, holdB, sinkB, sinkA] : [b, a, holdB, holdA, sinkA, sinkB];
    otherHold.release();

    const [leased] = await outboxRowsTo([email]);
    assert.ok(leased, 'the message is in the outbox');
    assert.equal(leased.sent_at, null, 'the held message is not marked sent');
    assert.equal(leased.attempts, 1);
    assert.ok(leased.lease_until !== null, 'the message is leased to the node that holds it');

    // Queued while the victim is stuck in delivery: they must reach their recipients too.
    const others = Array.from({ length: 3 }, () => uniqueAddress('multi-kill-other'));
    for (const other of others) {
      const response = await action(victim.url, 'create', { body: { email: other } });
      assert.equal(response.status, 200, response.text);
    }

    await victim.kill();
    const killedAt = Date.now();
    await within(held.disconnected, 5000, 'the SMTP connection of the killed node did not close');
    held.release();

    await waitForMail(email);
    const deliveredAt = Date.now();
    await waitUntil(() => others.every((other) => deliveredTo(other).length > 0), 'the other messages arrived', MAIL_TIMEOUT_MS);
    await sleep(SETTLE_MS);

    assert.equal(victimSink.droppedCount, 1, 'the held copy was dropped, since its sender never got the 250 reply');
    assert.equal(deliveredTo(email).length, 1, 'the message arrived once');
    assert.equal(deliveredTo(email)[0]?.node, holder === 'A' ? 'B' : 'A', 'the surviving node delivered it');
    assert.ok(
      deliveredAt - killedAt < (LEASE_SECONDS + 5) * 1000,
      `delivered ${deliveredAt - killedAt} ms after the kill, within the lease of ${LEASE_SECONDS} s and 5 s more`,
    );

    const [sent] = await outboxRowsTo([email]);
    assert.ok(sent);
    assert.notEqual(sent.sent_at, null, 'the message is marked sent');
    assert.ok((sent.sent_at ?? 0) >= (leased.lease_until ?? Infinity), 'it was claimed again only after the lease ran out');
    assert.equal(sent.attempts, 2, 'one attempt by each node');

    for (const other of others) {
      assert.equal(deliveredTo(other).length, 1, `one message reached ${other}`);
    }
    for (const row of await outboxRowsTo(others)) {
      assert.notEqual(row.sent_at, null, `outbox row ${row.id} is marked sent`);
    }
    assert.equal(survivorSink.droppedCount, 0);
    assert.ok(survivor.running(), 'the surviving node still runs');
  });
});
