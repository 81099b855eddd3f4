import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { type LoadSpec, measureRuns, runLoad } from '../bench/load.js';
import { failureOf } from '../bench/results.js';
import { type ServerProcess, startHello, stopServer } from '../bench/servers.js';

/** A request as the test server saw it. */
interface Received {
  cookie: string | undefined;
  body: string;
}

/** A test HTTP server on 127.0.0.1 whose response to each request the test chooses. */
class TargetServer {
  readonly received: Received[] = [];
  private readonly server: http.Server;

  constructor(handle: (index: number, response: http.ServerResponse, request: http.IncomingMessage) => void) {
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const index = this.received.length;
        this.received.push({ cookie: request.headers.cookie, body: Buffer.concat(chunks).toString('utf8') });
        handle(index, response, request);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    assert.ok(address, 'the server is listening');
    assert.equal(typeof address, 'object', 'the server listens on TCP');
    assert.ok(typeof address === 'object');
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function fixedRateSpec(url: string, rate: number, durationSeconds: number, extra: Partial<LoadSpec> = {}): LoadSpec {
  return { url, method: 'GET', path: '/hello', connections: 1, rate, durationSeconds, ...extra };
}

function answer(response: http.ServerResponse, status = 200): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end('{}');
}

describe('fixed-rate load', () => {
  test('sends every request while responses stall', async () => {
    // The server responds to none until it has every request of the schedule. A closed loop, or an open
    // loop that shares a few sockets, would never send them all.
    const count = 40;
    const held: http.ServerResponse[] = [];
    let receivedBeforeFirstAnswer = 0;
    const server = new TargetServer((index, response) => {
      held.push(response);
      if (index + 1 < count) return;
      receivedBeforeFirstAnswer = index + 1;
      for (const waiting of held) answer(waiting);
    });
    const url = await server.start();

    try {
      const result = await runLoad(fixedRateSpec(url, 40, 1));
      assert.equal(receivedBeforeFirstAnswer, count);
      assert.equal(result.requests, count);
      assert.equal(result.errors, 0);
      assert.equal(result.non2xx, 0);
      assert.deepEqual(result.statuses, { '200': count });
      assert.equal(result.scheduledRate, 40);
      // The first request waited for the last one, which was due 975 ms after it.
      assert.ok(result.maxMs >= 975, `max ${result.maxMs} ms covers the stall`);
    } finally {
      await server.stop();
    }
  });

  test('measures latency from the scheduled send time', async () => {
    const server = new TargetServer((_index, response) => answer(response));
    const url = await server.start();

    // The client's own thread is blocked for 300 ms in the middle of the run, so the requests due in that
    // time go out late. Measured from their actual send, they would take about a millisecond.
    const blockMs = 300;
    const block = setTimeout(() => {
      const until = Date.now() + blockMs;
      while (Date.now() < until) {
        // Busy on purpose.
      }
    }, 400);

    try {
      const result = await runLoad(fixedRateSpec(url, 100, 1));
      assert.equal(result.requests, 100);
      assert.equal(result.errors, 0);
      assert.ok(result.sendLag, 'a fixed-rate run reports its send lag');
      assert.ok(result.sendLag.maxMs >= blockMs - 20, `send lag max ${result.sendLag.maxMs} ms covers the block`);
      assert.ok(result.maxMs >= blockMs - 20, `latency max ${result.maxMs} ms covers the block`);
      // About 30 of the 100 requests were due during the block, 10 of them in its first 100 ms.
      assert.ok(result.p90Ms >= 100, `p90 ${result.p90Ms} ms counts the requests due during the block`);
      assert.ok(result.p50Ms <= result.p90Ms, 'p50 ≤ p90');
      assert.ok(result.p90Ms <= result.p99Ms, 'p90 ≤ p99');
      assert.ok(result.p99Ms <= result.p999Ms, 'p99 ≤ p99.9');
      assert.ok(result.p999Ms <= result.maxMs, 'p99.9 ≤ max');
    } finally {
      clearTimeout(block);
      await server.stop();
    }
  });

  test('rotates the session cookie and sends the body', async () => {
    const server = new TargetServer((_index, response) => answer(response));
    const url = await server.start();

    try {
      const cookies = ['sessionid=first', 'sessionid=second', 'sessionid=third'];
      const spec = fixedRateSpec(url, 60, 1, {
        method: 'POST',
        path: '/api/2.0/accounts/action/?do=check_login',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
        requestFor: (sequence) => ({ headers: { Cookie: cookies[sequence % cookies.length] ?? '' } }),
      });
      const result = await runLoad(spec);

      assert.equal(result.requests, 60);
      assert.equal(server.received.length, 60);
      for (const cookie of cookies) {
        assert.equal(server.received.filter((request) => request.cookie === cookie).length, 20, `20 requests carry ${cookie}`);
      }
      assert.ok(server.received.every((request) => request.body === '{}'), 'every request carries the body');
    } finally {
      await server.stop();
    }
  });

  test('counts non-2xx responses and connection errors', async () => {
    // Of 50 requests, every fifth gets 503 and every seventh loses its connection before a response.
    const server = new TargetServer((index, response, request) => {
      if (index % 7 === 6) request.socket.destroy();
      else answer(response, index % 5 === 4 ? 503 : 200);
    });
    const url = await server.start();

    try {
      const result = await runLoad(fixedRateSpec(url, 50, 1));
      const dropped = Array.from({ length: 50 }, (_, index) => index).filter((index) => index % 7 === 6);
      const unavailable = Array.from({ length: 50 }, (_, index) => index).filter((index) => index % 7 !== 6 && index % 5 === 4);

      assert.equal(result.errors, dropped.length);
      assert.equal(result.timeouts, 0);
      assert.equal(result.non2xx, unavailable.length);
      assert.equal(result.requests, 50 - dropped.length);
      assert.deepEqual(result.statuses, { '200': 50 - dropped.length - unavailable.length, '503': unavailable.length });
    } finally {
      await server.stop();
    }
  });
});

describe('fixed-rate run against a server process', () => {
  let hello: ServerProcess;

  before(async () => {
    hello = await startHello(path.join(os.tmpdir(), `bench-fixed-rate-hello-${process.pid}.log`));
  });

  after(async () => {
    await stopServer(hello);
  });

  test('reports server CPU per request', async () => {
    const [run] = await measureRuns(hello.pid, [fixedRateSpec(hello.url, 1000, 1)], 0);
    assert.ok(run, 'one result for one spec');

    assert.equal(failureOf(run), null);
    assert.equal(run.requests, 1000);
    assert.ok(run.server.cpuSeconds > 0, 'the hello server used CPU time');
    assert.equal(run.serverCpuPerRequestUs, (run.server.cpuSeconds * 1e6) / run.requests);
  });

  test('divides server CPU by the responses of every load', async () => {
    const closedLoop: LoadSpec = { url: hello.url, method: 'GET', path: '/hello', connections: 2, durationSeconds: 1 };
    const [fixed, closed] = await measureRuns(hello.pid, [fixedRateSpec(hello.url, 200, 1), closedLoop], 0);
    assert.ok(fixed, 'a result for the fixed-rate spec');
    assert.ok(closed, 'a result for the closed-loop spec');

    assert.equal(failureOf(fixed), null);
    assert.equal(failureOf(closed), null);
    assert.equal(closed.scheduledRate, null);
    assert.equal(closed.sendLag, null);
    const expected = (fixed.server.cpuSeconds * 1e6) / (fixed.requests + closed.requests);
    assert.equal(fixed.serverCpuPerRequestUs, expected);
    assert.equal(closed.serverCpuPerRequestUs, expected);
  });
});
