// Writes the generated load section into docs/benchmarks.md, between its markers, and the chart beside it.
import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from './servers.js';

const DOC = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
const CHART = path.join(REPO_ROOT, 'docs', 'benchmarks.svg');
const BEGIN_MARK = '<!-- load:begin -->';
const END_MARK = '<!-- load:end -->';
// The section goes before this heading when the markers are missing, so the enumeration section stays last.
const NEXT_HEADING = '## Account enumeration timing';

/** Replaces the text between the load markers, or adds the section with its markers. */
export function writeDocs(section: string, chart: string | null): void {
  const block = `${BEGIN_MARK}\n${section}\n${END_MARK}`;
  const current = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '# Benchmarks\n';

  const begin = current.indexOf(BEGIN_MARK);
  const end = current.indexOf(END_MARK);
  let updated: string;
  if (begin !== -1 && end > begin) {
    updated = current.slice(0, begin) + block + current.slice(end + END_MARK.length);
  } else {
    const added = `## Throughput and latency under load\n\n${block}\n\n`;
    const next = current.indexOf(NEXT_HEADING);
    updated = next === -1 ? `${current.trimEnd()}\n\n${added}` : current.slice(0, next) + added + current.slice(next);
  }

  fs.writeFileSync(DOC, updated);
  if (chart !== null) fs.writeFileSync(CHART, chart);
}
