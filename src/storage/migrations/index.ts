import type { Migration, MigrationProvider } from 'kysely';

import * as initial from './001-initial.js';
import * as profileAndDigest from './002-profile-and-digest.js';
import * as lifecycle from './003-lifecycle.js';
import * as throttle from './004-throttle.js';
import * as auditTrail from './005-audit-trail.js';
import * as twoFactor from './006-two-factor-and-api-tokens.js';

// Listed in code rather than read from a folder, so that a bundled or packed build finds every migration.
const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-profile-and-digest': profileAndDigest,
  '003-lifecycle': lifecycle,
  '004-throttle': throttle,
  '005-audit-trail': auditTrail,
  '006-two-factor-and-api-tokens': twoFactor,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
