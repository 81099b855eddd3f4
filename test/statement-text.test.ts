import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { LogEvent } from 'kysely';

import { type DatabaseHandle, migrateToLatest, openDatabase } from '../src/storage/database.js';
import { KyselyThrottleStore } from '../src/storage/kysely-throttle-store.js';
import { tempDataDir } from './helpers/server.js';
import { databaseUrlFor, ensureDatabase, testStore } from './helpers/store.js';

// Statements are prepared once per distinct SQL text and then reused, so a value written into the text
// instead of passed as a parameter makes every call a new statement. These tests catch that on busy paths.

let handle: DatabaseHandle;
const texts: string[] = [];

before(async () => {
  const dataDir = tempDataDir();
  await ensureDatabase(dataDir);
  handle = openDatabase(databaseUrlFor(dataDir), undefined, undefined, () => (event: LogEvent) => {
    texts.push(event.query.sql);
  });
  await migrateToLatest(handle.db);
});

after(async () => {
  await handle.db.destroy();
});

test(`throttle counter text is fixed on ${testStore()}`, async () => {
  const throttle = new KyselyThrottleStore(handle.db);
  const start = Date.now();

  texts.length = 0;
  for (const [offset, sliding] of [[0, false], [1, false], [2_000, false], [3, true], [4, true]] as const) {
    await throttle.hit('statement-text', start + offset, start + offset + 60_000, sliding);
  }

  const fixed = texts.filter((text) => text.includes('throttle_counters'));
  assert.equal(fixed.length, 5);
  assert.equal(new Set(fixed).size, 2, 'one text for fixed windows and one for sliding ones');
});
