// Reads a V8 CPU profile (.cpuprofile, written by `node --cpu-prof`) and ranks functions by self time.
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** The parts of the .cpuprofile JSON that self time needs. */
interface CpuProfile {
  nodes: ProfileNode[];
  /** Node id of each sample, in time order. */
  samples: number[];
  /** Microseconds from the previous sample (from the profile start for the first) to each sample. */
  timeDeltas: number[];
}

/** One function's share of the profile. */
export interface HotFunction {
  name: string;
  /** Script and line (1-based), relative to the first of `roots` that contains it; empty for V8's own entries. */
  location: string;
  selfMs: number;
  /** Self time as a percentage of all sampled time that was not idle. */
  percent: number;
}

/** Self time added up by where the code comes from: a package, a folder of dist/, Node.js, or V8. */
export interface HotSource {
  source: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  /** Sampled time that was not idle, in milliseconds. */
  busyMs: number;
  idleMs: number;
  top: HotFunction[];
  sources: HotSource[];
}

/** Returns the package (node_modules/NAME or @SCOPE/NAME), dist/ folder, Node.js or V8 that a script belongs to. */
function sourceOf(script: string): string {
  if (script === '') return 'V8 and native code';
  if (script.startsWith('node:')) return 'Node.js';

  const parts = script.split('/');
  const modules = parts.lastIndexOf('node_modules');
  if (modules !== -1) {
    const name = parts[modules + 1] ?? '';
    return name.startsWith('@') ? `${name}/${parts[modules + 2] ?? ''}` : name;
  }
  if (parts[0] === 'dist') return parts.length > 2 ? `dist/${parts[1]}/` : 'dist/';
  return script;
}

/**
 * Returns the `count` functions with the most self time. Each sample counts from its own time to the
 * next sample's, as Chrome's DevTools count it, and functions are merged by name, script and line, so
 * that the several nodes of one function in the call tree add up.
 */
export function topSelfTime(file: string, roots: string[], count: number): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));

  const selfByKey = new Map<string, { name: string; location: string; micros: number }>();
  const selfBySource = new Map<string, number>();
  let idleMicros = 0;
  let busyMicros = 0;

  for (let index = 0; index < profile.samples.length; index += 1) {
    const node = nodes.get(profile.samples[index] ?? -1);
    const micros = profile.timeDeltas[index + 1] ?? 0;
    if (!node) continue;

    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleMicros += micros;
      continue;
    }
    busyMicros += micros;

    const name = functionName || '(anonymous)';
    const root = roots.find((candidate) => url.startsWith(`file://${candidate}`));
    const script = root === undefined ? url : url.slice(`file://${root}`.length);
    // lineNumber is 0-based in the profile.
    const location = script ? `${script}:${lineNumber + 1}` : '';
    const key = `${name} ${location}`;
    const entry = selfByKey.get(key) ?? { name, location, micros: 0 };
    entry.micros += micros;
    selfByKey.set(key, entry);

    // V8's own entries, such as (garbage collector) and (program), have no script.
    const source = sourceOf(script);
    selfBySource.set(source, (selfBySource.get(source) ?? 0) + micros);
  }

  const top = [...selfByKey.values()]
    .sort((left, right) => right.micros - left.micros)
    .slice(0, count)
    .map((entry) => ({ name: entry.name, location: entry.location, selfMs: entry.micros / 1000, percent: (100 * entry.micros) / busyMicros }));
  const sources = [...selfBySource]
    .sort((left, right) => right[1] - left[1])
    .map(([source, micros]) => ({ source, selfMs: micros / 1000, percent: (100 * micros) / busyMicros }));
  return { busyMs: busyMicros / 1000, idleMs: idleMicros / 1000, top, sources };
}
