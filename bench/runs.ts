// The runs of one group against one server: each operation after a hello run under the same load, and
// the fixed-rate runs of the latency targets.
import { type LoadSpec, type MeasuredRun, measureRuns } from './load.js';
import { currentRss } from './process-stats.js';
import type { FixedRateGroup, FixedRateResult, OperationResult, RunGroup } from './results.js';
import type { Operation, Scenarios } from './scenarios.js';
import type { ServerProcess } from './servers.js';

/** The servers of a group of runs, the requests to send them, and the warm-up before each run. */
export interface RunContext {
  server: ServerProcess;
  hello: ServerProcess;
  scenarios: Scenarios;
  warmupSeconds: number;
}

function describe(context: RunContext, operation: string, spec: LoadSpec): void {
  const load = spec.rate === undefined ? `${spec.connections} connections` : `${spec.rate} requests/s on a fixed schedule`;
  console.log(`  ${operation}: ${load}, ${context.warmupSeconds} s warm-up, ${spec.durationSeconds} s measured`);
}

/** Sends the first request of a spec once and throws unless it gets 200, so that a broken setup stops early. */
async function preflight(operation: string, spec: LoadSpec): Promise<void> {
  const changes = spec.requestFor?.(0) ?? {};
  const body = changes.body ?? spec.body;
  const response = await fetch(`${spec.url}${spec.path}`, { method: spec.method, headers: { ...spec.headers, ...changes.headers }, body });
  if (response.status !== 200) throw new Error(`${operation} returned ${response.status} before the load: ${(await response.text()).slice(0, 300)}`);
}

/** Measures the hello baseline, once both servers are idle. */
async function measureHello(context: RunContext): Promise<MeasuredRun> {
  const spec = context.scenarios.hello(context.hello.url);
  describe(context, 'hello', spec);
  const [run] = await measureRuns(context.hello.pid, [spec], context.warmupSeconds, [context.hello.pid, context.server.pid]);
  if (!run) throw new Error('no result for hello');
  return run;
}

/** Measures hello, then the operation. */
async function runOperation(context: RunContext, operation: Operation): Promise<OperationResult> {
  const spec = context.scenarios.spec(operation);
  await preflight(operation, spec);
  const hello = await measureHello(context);

  describe(context, operation, spec);
  const [run] = await measureRuns(context.server.pid, [spec], context.warmupSeconds);
  if (!run) throw new Error(`no result for ${operation}`);
  return { operation, run, hello };
}

/** Measures hello, then check_login and a login storm at the same time. Both rows carry the server usage of both. */
export async function runStorm(context: RunContext): Promise<OperationResult[]> {
  const check = context.scenarios.spec('check_login_during_storm');
  const storm = context.scenarios.spec('login_storm');
  const hello = await measureHello(context);

  describe(context, 'check_login during a login storm', check);
  const [checkRun, stormRun] = await measureRuns(context.server.pid, [check, storm], context.warmupSeconds);
  if (!checkRun || !stormRun) throw new Error('no result for the login storm');
  return [
    { operation: 'check_login_during_storm', run: checkRun, hello },
    { operation: 'login_storm', run: stormRun, hello },
  ];
}

/** Runs the operations one after another, each after its own hello run. */
export async function runGroup(context: RunContext, operations: Operation[]): Promise<RunGroup> {
  const startRssBytes = currentRss(context.server.pid);
  const rows: OperationResult[] = [];
  for (const operation of operations) rows.push(await runOperation(context, operation));
  return { rows, startRssBytes };
}

/**
 * Measures hello, check_login and check_login_with_return_uuid at `rate` requests per second, and then
 * check_login at that rate while the closed-loop login storm of runStorm runs beside it.
 */
export async function runFixedRateGroup(context: RunContext, rate: number): Promise<FixedRateGroup> {
  const rows: FixedRateResult[] = [];
  const hello = { ...context.scenarios.hello(context.hello.url), rate };
  describe(context, 'hello', hello);
  const [helloRun] = await measureRuns(context.hello.pid, [hello], context.warmupSeconds, [context.hello.pid, context.server.pid]);
  if (!helloRun) throw new Error('no result for hello at a fixed rate');
  rows.push({ operation: 'hello', run: helloRun });

  for (const operation of ['check_login', 'check_login_with_return_uuid'] as const) {
    const spec = { ...context.scenarios.spec(operation), rate };
    describe(context, operation, spec);
    const [run] = await measureRuns(context.server.pid, [spec], context.warmupSeconds);
    if (!run) throw new Error(`no result for ${operation} at a fixed rate`);
    rows.push({ operation, run });
  }

  const check = { ...context.scenarios.spec('check_login_during_storm'), rate };
  const storm = context.scenarios.spec('login_storm');
  describe(context, 'check_login during a login storm', check);
  const [checkRun, stormRun] = await measureRuns(context.server.pid, [check, storm], context.warmupSeconds);
  if (!checkRun || !stormRun) throw new Error('no result for the login storm at a fixed rate');
  rows.push({ operation: 'check_login_during_storm', run: checkRun }, { operation: 'login_storm', run: stormRun });
  return { rate, rows };
}
