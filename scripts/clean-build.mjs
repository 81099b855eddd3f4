// The prepack step of `npm pack` and `npm publish`: deletes dist/ and compiles src/ into it again, so that
// the package contains the current sources only, never a stale module or a file that another build left.
// Source maps are left out because the package ships no TypeScript sources for them to point at.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

const ENTRY = 'dist/main.js';
const SHEBANG = '#!/usr/bin/env node\n';

rmSync('dist', { recursive: true, force: true });

// The compiler's messages go to standard error, so that `npm pack --json` prints nothing but its JSON.
const compile = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--sourceMap', 'false'], {
  stdio: ['ignore', 2, 2],
});
if (compile.status !== 0) {
  console.error(`tsc failed (${compile.error?.message ?? `exit status ${compile.status ?? compile.signal}`}); nothing was packed`);
  process.exit(1);
}

// The `sigma-accounts` command of package.json's `bin` runs this file directly.
if (!readFileSync(ENTRY, 'utf8').startsWith(SHEBANG)) {
  console.error(`${ENTRY} does not start with ${JSON.stringify(SHEBANG.trim())}; keep that line at the top of src/main.ts`);
  process.exit(1);
}
chmodSync(ENTRY, 0o755);
