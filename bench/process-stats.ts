// CPU time and peak memory of a server process and its descendants, read from /proc (Linux only).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on most systems). */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds and memory of one process tree over one run. */
export interface ProcessUsage {
  /** User plus system CPU time of the tree during the run, in seconds. */
  cpuSeconds: number;
  /** The sum over the tree of each process's peak resident set (VmHWM), in bytes. */
  peakRssBytes: number;
  /** Whether the peaks were reset at the start of the run, so that they belong to this run alone. */
  peakIsPerRun: boolean;
}

/** Returns the process and every descendant of it that is alive now. */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;

    const stat = readStat(Number(entry));
    if (!stat) continue;
    const siblings = children.get(stat.parentPid) ?? [];
    siblings.push(Number(entry));
    children.set(stat.parentPid, siblings);
  }

  const tree = [rootPid];
  for (let index = 0; index < tree.length; index += 1) {
    tree.push(...(children.get(tree[index] ?? -1) ?? []));
  }
  return tree;
}

interface Stat {
  parentPid: number;
  cpuTicks: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // The process ended between listing /proc and reading it.
    return null;
  }

  // The command name (field 2) is in parentheses and may contain spaces, so fields are counted after its
  // closing parenthesis: field 4 is the parent pid, fields 14 and 15 are utime and stime (proc(5)).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { parentPid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** Reads a size field of /proc/PID/status, such as VmRSS or VmHWM, in bytes; 0 for a process that ended. */
function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** Returns the resident set of a process tree now, in bytes. */
export function currentRss(rootPid: number): number {
  return processTree(rootPid).reduce((sum, pid) => sum + statusBytes(pid, 'VmRSS'), 0);
}

/** Resets the peak resident set of a process to its current size (proc(5), clear_refs value 5). */
function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Starts measuring a process tree; the returned function ends the measurement and returns the usage. */
export function startUsage(rootPid: number): () => ProcessUsage {
  const pids = processTree(rootPid);
  const ticksBefore = new Map(pids.map((pid) => [pid, readStat(pid)?.cpuTicks ?? 0]));
  const peakIsPerRun = pids.map(resetPeakRss).every(Boolean);

  return () => {
    // A process that started during the run (a worker) counts from zero; one that ended is lost.
    const after = processTree(rootPid);
    let ticks = 0;
    let peakRssBytes = 0;
    for (const pid of after) {
      ticks += (readStat(pid)?.cpuTicks ?? 0) - (ticksBefore.get(pid) ?? 0);
      peakRssBytes += statusBytes(pid, 'VmHWM');
    }
    return { cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND, peakRssBytes, peakIsPerRun };
  };
}

/** Busy CPU time of the whole machine since boot, in seconds: every state of /proc/stat but idle and iowait. */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, ...fields] = line.trim().split(/\s+/);
  const ticks = fields.map(Number);
  // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const busy = (ticks[0] ?? 0) + (ticks[1] ?? 0) + (ticks[2] ?? 0) + (ticks[5] ?? 0) + (ticks[6] ?? 0) + (ticks[7] ?? 0);
  return busy / CLOCK_TICKS_PER_SECOND;
}

function treeTicks(rootPid: number): number {
  return processTree(rootPid).reduce((sum, pid) => sum + (readStat(pid)?.cpuTicks ?? 0), 0);
}

const IDLE_SAMPLE_MS = 250;
/** A process tree that uses less than this share of one core is idle. */
const IDLE_SHARE = 0.1;

/**
 * Waits until every process tree of `rootPids` is idle, such as a server that still verifies the
 * passwords of requests whose clients went away, or until `timeoutMs`. Returns whether they became idle.
 */
export async function waitUntilIdle(rootPids: number[], timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let before = rootPids.map(treeTicks);

  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const after = rootPids.map(treeTicks);
    const busiest = Math.max(...after.map((ticks, index) => ticks - (before[index] ?? 0)));
    if (busiest / CLOCK_TICKS_PER_SECOND < (IDLE_SHARE * IDLE_SAMPLE_MS) / 1000) return true;
    before = after;
  }
  return false;
}
