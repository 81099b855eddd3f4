import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG_SOURCE = path.join(REPO_ROOT, 'src', 'config.ts');
const CONFIGURATION_PAGE = path.join(REPO_ROOT, 'docs', 'configuration.md');

// The shape of an environment variable name: HOST, DATABASE_URL, OTEL_EXPORTER_OTLP_ENDPOINT.
const SETTING_NAME = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/**
 * Returns the environment variables that src/config.ts reads. It passes every name to its helpers as a string
 * literal, such as `integer(env, 'PORT', ...)`, at times by way of a constant or a default parameter. So every
 * string literal of that shape counts, and so does a property read such as `env.PORT`, but comments do not.
 */
function settingsReadByConfig(): Set<string> {
  const source = ts.createSourceFile(CONFIG_SOURCE, fs.readFileSync(CONFIG_SOURCE, 'utf8'), ts.ScriptTarget.Latest, true);
  const names = new Set<string>();

  const visit = (node: ts.Node): void => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && SETTING_NAME.test(node.text)) {
      names.add(node.text);
    }
    if (ts.isPropertyAccessExpression(node) && /(^|\.)env$/.test(node.expression.getText(source)) && SETTING_NAME.test(node.name.text)) {
      names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

/** Returns the settings that docs/configuration.md documents: the first cell of each table row, such as | `PORT` |. */
function settingsDocumented(): Set<string> {
  const page = fs.readFileSync(CONFIGURATION_PAGE, 'utf8');
  const names = new Set<string>();
  for (const match of page.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)) {
    const name = match[1] ?? '';
    if (SETTING_NAME.test(name)) names.add(name);
  }
  return names;
}

/** Lists the .ts files under `folder`. */
function sourceFiles(folder: string): string[] {
  return fs.readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe('configuration reference', () => {
  test('config.ts names are found', () => {
    const read = settingsReadByConfig();
    // Guards the parser itself: a change in how config.ts reads settings must not make this test pass empty.
    for (const name of ['HOST', 'PORT', 'DATABASE_URL', 'SMTP_URL', 'METRICS_TOKEN', 'THROTTLE']) {
      assert.ok(read.has(name), `${name} not found in src/config.ts; the parser in this test needs updating`);
    }
  });

  test('every setting read is documented', () => {
    assert.ok(fs.existsSync(CONFIGURATION_PAGE), 'docs/configuration.md is missing');
    const documented = settingsDocumented();
    const missing = [...settingsReadByConfig()].filter((name) => !documented.has(name)).sort();

    assert.deepEqual(missing, [], `src/config.ts reads settings that docs/configuration.md has no table row for: ${missing.join(', ')}`);
  });

  test('every documented setting is read', () => {
    assert.ok(fs.existsSync(CONFIGURATION_PAGE), 'docs/configuration.md is missing');
    const read = settingsReadByConfig();
    const extra = [...settingsDocumented()].filter((name) => !read.has(name)).sort();

    assert.deepEqual(extra, [], `docs/configuration.md documents settings that src/config.ts never reads: ${extra.join(', ')}`);
  });

  test('only config.ts reads the environment', () => {
    const readers = sourceFiles(path.join(REPO_ROOT, 'src'))
      .filter((file) => file !== CONFIG_SOURCE && /\bprocess\.env\b/.test(fs.readFileSync(file, 'utf8')))
      .map((file) => path.relative(REPO_ROOT, file));

    assert.deepEqual(readers, [], `these files read process.env, so their settings escape docs/configuration.md: ${readers.join(', ')}`);
  });
});
