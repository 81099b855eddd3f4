// Runs the TypeScript build when dist/ is missing or older than any source file, so `npm start` always
// serves the current code without rebuilding on every start.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

const output = 'dist/main.js';
const stale = !existsSync(output) || newest('src') > statSync(output).mtimeMs || statSync('tsconfig.json').mtimeMs > statSync(output).mtimeMs;

if (stale) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
