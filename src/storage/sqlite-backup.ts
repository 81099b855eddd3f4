import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import SqliteDatabase from 'better-sqlite3';

/** A finished copy of a SQLite database. */
export interface SqliteBackup {
  /** Absolute path of the copy. */
  file: string;
  bytes: number;
  pages: number;
}

/** A backup that cannot be made for a reason the operator can fix, such as an existing target file. */
export class BackupError extends Error {
  override name = 'BackupError';
}

// better-sqlite3 caps the pages of one step at this value, so one step copies the whole database. SQLite
// restarts a copy made in several steps whenever another connection writes between two of them, so under
// steady writes a copy in small steps might never finish. One step is one read transaction instead. In WAL
// mode the server goes on writing meanwhile, and its writes stay in the -wal file until the copy ends.
const ALL_PAGES = 0x7fffffff;

// Error codes of link() on filesystems without hard links, such as FAT and some network shares.
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Copies the SQLite database at `source` to the new file `target` with SQLite's online backup API, while
 * other processes go on reading and writing it. The copy is one consistent snapshot, is checked with
 * `PRAGMA integrity_check`, and appears under `target` only once it is complete and checked.
 * Throws BackupError when `source` is missing, `target` exists, or its folder does not.
 */
export async function backupSqliteDatabase(source: string, target: string): Promise<SqliteBackup> {
  const file = path.resolve(target);
  const folder = path.dirname(file);

  if (!fs.existsSync(source)) throw new BackupError(`no SQLite database at ${source}; check DATA_DIR or DATABASE_URL`);
  if (fs.existsSync(file)) throw alreadyExists(file);
  if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new BackupError(`the folder ${folder} does not exist`);

  const partial = path.join(folder, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    // The copy contains password hashes, TOTP secrets and token digests, so only the owner may read it.
    // SQLite gives the journal files of a database the mode of the database file.
    try {
      fs.closeSync(fs.openSync(partial, 'wx', 0o600));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'an error';
      throw new BackupError(`cannot create a file in ${folder} (${code}); choose a folder this user can write to`);
    }

    const pages = await copyPages(source, partial);
    checkIntegrity(partial);
    publish(partial, file);
    return { file, bytes: fs.statSync(file).size, pages };
  } finally {
    for (const leftover of [partial, `${partial}-wal`, `${partial}-shm`, `${partial}-journal`]) fs.rmSync(leftover, { force: true });
  }
}

async function copyPages(source: string, destination: string): Promise<number> {
  const db = new SqliteDatabase(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const progress = await db.backup(destination, { progress: () => ALL_PAGES });
    return progress.totalPages;
  } finally {
    db.close();
  }
}

function checkIntegrity(file: string): void {
  // Opened for writing, so that closing the last connection removes the -wal and -shm files it made.
  const copy = new SqliteDatabase(file, { fileMustExist: true });
  try {
    const result = copy.pragma('integrity_check', { simple: true });
    if (result !== 'ok') {
      throw new BackupError(`the copy failed PRAGMA integrity_check (${String(result)}), so the source database is probably damaged; no backup was written`);
    }
  } finally {
    copy.close();
  }
}

/** Gives the finished copy its name without ever replacing a file of that name. */
function publish(partial: string, file: string): void {
  try {
    fs.linkSync(partial, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') throw alreadyExists(file);
    if (!LINK_UNSUPPORTED.has(code)) throw error;

    // NOTE: rename() replaces an existing file, so a file created between this check and the rename is
    // lost. Only filesystems without hard links take this path.
    if (fs.existsSync(file)) throw alreadyExists(file);
    fs.renameSync(partial, file);
  }
}

function alreadyExists(file: string): BackupError {
  return new BackupError(`${file} already exists; backup never replaces a file, so name a new one`);
}
