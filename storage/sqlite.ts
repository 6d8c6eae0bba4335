import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

/**
 * The embedded store: one SQLite database file (Node's built-in `node:sqlite`) behind every part of the local
 * stack — the durable task hub, the workshop's tables and the emulators' state.
 *
 * Durability: WAL with `synchronous=FULL` by default, so a write that resolved is on disk — it survives a
 * crash of every process and a power loss. `WORKSHOP_SQLITE_SYNC=NORMAL` keeps process crashes safe but may
 * lose the last commits to a power loss; `OFF` may also corrupt the file on power loss (tests only).
 *
 * Writes are group-committed: every write asked for in the same turn of the event loop runs in one
 * transaction (each in its own savepoint, so one failing write does not undo the others) and one fsync, and
 * only then are the callers told. `node:sqlite` is synchronous, so this is also what keeps a burst of writes
 * from holding the event loop through one fsync each.
 */

/** Thrown when the store cannot take a write now (disk full, I/O error): answer 503, nothing was written. */
export class StoreUnavailableError extends Error {
  readonly status = 503;
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/** Thrown when the database file cannot be used at all (damaged, foreign, newer, held by another stack). */
export class StoreOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreOpenError';
  }
}

export type SyncMode = 'FULL' | 'NORMAL' | 'OFF';

/** 'WKSH': marks a database file as this product's, so a foreign SQLite file is not mistaken for one. */
const APPLICATION_ID = 0x574b5348;

/** Forward migrations: index i takes user_version i to i + 1. Never edit a shipped one; append. */
const MIGRATIONS: Array<(db: DatabaseSync) => void> = [
  (db) => {
    // The app's tables (Azure Tables semantics: see sqliteTable.ts).
    db.exec(`
      CREATE TABLE app_tables (name TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE app_entities (
        tbl TEXT NOT NULL, pk TEXT NOT NULL, rk TEXT NOT NULL,
        props TEXT NOT NULL, etag INTEGER NOT NULL, ts TEXT NOT NULL,
        PRIMARY KEY (tbl, pk, rk)) WITHOUT ROWID;
    `);
  },
];
export const SCHEMA_VERSION = MIGRATIONS.length;

interface PendingWrite {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

let loadedModule: typeof import('node:sqlite') | undefined;
/**
 * `node:sqlite` prints an ExperimentalWarning the first time it loads (Node 22). That line is noise for
 * every `npm start`; only that one warning is dropped, any other still prints.
 */
function sqliteModule(): typeof import('node:sqlite') {
  if (loadedModule) return loadedModule;
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    loadedModule = require('node:sqlite') as typeof import('node:sqlite');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_UNKNOWN_BUILTIN_MODULE') {
      throw new StoreOpenError(
        `The embedded store needs Node.js 22 (node:sqlite); this is ${process.version}. Run it through npm (npm start, npm test, npx), which uses the Node 22 that npm install put in node_modules/.bin, or install Node.js >= 22.12.`,
      );
    }
    throw err;
  } finally {
    process.emitWarning = emit;
  }
  return loadedModule;
}

function sqliteCode(err: unknown): string {
  const e = err as { errstr?: string; code?: string; errcode?: number; message?: string };
  if (typeof e.errcode === 'number') {
    const primary = e.errcode & 0xff;
    const names: Record<number, string> = { 5: 'SQLITE_BUSY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 26: 'SQLITE_NOTADB', 8: 'SQLITE_READONLY', 14: 'SQLITE_CANTOPEN' };
    return names[primary] ?? `SQLITE_${primary}`;
  }
  return e.code ?? 'UNKNOWN';
}

/** A write that failed because of the disk (not because of the write itself) becomes a StoreUnavailableError. */
function unavailable(err: unknown, file: string): StoreUnavailableError | undefined {
  const code = sqliteCode(err);
  if (code === 'SQLITE_FULL') return new StoreUnavailableError(`The store is full: ${file} could not grow (disk full or size limit). Nothing was written; free disk space and try again.`, code);
  if (code === 'SQLITE_IOERR' || code === 'SQLITE_READONLY' || code === 'SQLITE_BUSY') {
    return new StoreUnavailableError(`The store could not write ${file} (${code}: ${(err as Error).message}). Nothing was written; try again.`, code);
  }
  return undefined;
}

export interface SqliteOptions {
  /** The database file. */
  file: string;
  synchronous?: SyncMode;
  /**
   * Hold the file exclusively for the life of this process (one stack per data directory). The lock is the
   * operating system's, so a killed process releases it.
   */
  exclusive?: boolean;
}

export class SqliteDatabase {
  readonly db: DatabaseSync;
  readonly file: string;
  readonly synchronous: SyncMode;
  private queue: PendingWrite[] = [];
  private flushing = false;
  private readonly statements = new Map<string, StatementSync>();
  private closed = false;
  /** Commits and the writes they carried (the bench reports writes per commit). */
  readonly stats = { commits: 0, writes: 0 };

  private constructor(db: DatabaseSync, file: string, synchronous: SyncMode) {
    this.db = db;
    this.file = file;
    this.synchronous = synchronous;
  }

  static open(opts: SqliteOptions): SqliteDatabase {
    const file = path.resolve(opts.file);
    mkdirSync(path.dirname(file), { recursive: true });
    checkHeader(file);
    const { DatabaseSync } = sqliteModule();
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(file);
    } catch (err) {
      throw new StoreOpenError(`Cannot open the store ${file}: ${(err as Error).message}`);
    }
    const synchronous = opts.synchronous ?? 'FULL';
    try {
      db.exec('PRAGMA busy_timeout = 0');
      if (opts.exclusive) db.exec('PRAGMA locking_mode = EXCLUSIVE');
      const mode = (db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string }).journal_mode;
      if (mode !== 'wal') throw new StoreOpenError(`The store ${file} could not switch to WAL journaling (it says "${mode}").`);
      db.exec(`PRAGMA synchronous = ${synchronous}`);
      db.exec('PRAGMA foreign_keys = ON');
      // Take the lock now (an exclusive WAL connection locks at its first write), and read the header.
      db.exec('BEGIN IMMEDIATE');
      const appId = (db.prepare('PRAGMA application_id').get() as { application_id: number }).application_id;
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n;
      if (appId !== APPLICATION_ID && (appId !== 0 || tables > 0)) {
        db.exec('ROLLBACK');
        throw new StoreOpenError(
          `${file} is an SQLite database of something else (application id ${appId}, ${tables} tables), not a workshop-orchestrator store. ` +
            'Point WORKSHOP_DATA_DIR at another folder, or move the file away.',
        );
      }
      if (version > SCHEMA_VERSION) {
        db.exec('ROLLBACK');
        throw new StoreOpenError(`${file} was written by a newer version of workshop-orchestrator (schema ${version}; this one knows up to ${SCHEMA_VERSION}). Run that version, or use another WORKSHOP_DATA_DIR.`);
      }
      db.exec('COMMIT');
      const check = db.prepare('PRAGMA quick_check').all() as Array<{ quick_check: string }>;
      if (check.length !== 1 || check[0]!.quick_check !== 'ok') {
        throw new StoreOpenError(`${file} is damaged (${check.slice(0, 3).map((r) => r.quick_check).join('; ')}).`);
      }
      db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    } catch (err) {
      try {
        db.close();
      } catch {
        // already unusable
      }
      if (err instanceof StoreOpenError) throw err;
      const code = sqliteCode(err);
      if (code === 'SQLITE_BUSY') throw new StoreOpenError(`${file} is in use by another process${holderOf(file)}. One stack per data directory: stop it, or set WORKSHOP_DATA_DIR to another folder.`);
      if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
        throw new StoreOpenError(`${file} is damaged or not a database (${code}: ${(err as Error).message}).`);
      }
      throw new StoreOpenError(`Cannot open the store ${file}: ${(err as Error).message}`);
    }
    const store = new SqliteDatabase(db, file, synchronous);
    store.migrate();
    return store;
  }

  /** Applies the forward migrations this file has not had yet, each in its own transaction. */
  private migrate(): void {
    const version = (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        MIGRATIONS[v]!(this.db);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
        this.db.exec('COMMIT');
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw new StoreOpenError(`Upgrading the store ${this.file} from schema ${v} to ${v + 1} failed: ${(err as Error).message}`);
      }
    }
  }

  /** Runs DDL that a component owns (idempotent: CREATE … IF NOT EXISTS), at once and durably. */
  ensureSchema(sql: string): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db.exec(sql);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** A cached prepared statement. */
  prepare(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.prepare(sql).all(...params) as T[];
  }

  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.prepare(sql).get(...params) as T | undefined;
  }

  /**
   * Runs `fn` inside the next group commit and resolves with its result once that commit is on disk.
   * `fn` must do only synchronous database work; throwing undoes exactly its own changes.
   */
  write<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError(`The store ${this.file} is closed.`, 'CLOSED'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length === 1 && !this.flushing) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0 || this.closed) {
      for (const w of batch) w.reject(new StoreUnavailableError(`The store ${this.file} is closed.`, 'CLOSED'));
      return;
    }
    this.flushing = true;
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const w of batch) {
        this.db.exec('SAVEPOINT w');
        try {
          const value = w.run();
          this.db.exec('RELEASE w');
          results.push({ ok: true, value });
        } catch (error) {
          // Disk full and I/O errors can make SQLite roll the whole transaction back by itself.
          if (!this.db.isTransaction) throw error;
          this.db.exec('ROLLBACK TO w');
          this.db.exec('RELEASE w');
          results.push({ ok: false, error: unavailable(error, this.file) ?? error });
        }
      }
      this.db.exec('COMMIT');
      this.stats.commits++;
      this.stats.writes += batch.length;
    } catch (err) {
      try {
        if (this.db.isTransaction) this.db.exec('ROLLBACK');
      } catch {
        // the rollback happened already (SQLite rolls back on some errors by itself)
      }
      const error = unavailable(err, this.file) ?? err;
      for (const w of batch) w.reject(error);
      return;
    } finally {
      this.flushing = false;
      if (this.queue.length) setImmediate(() => this.flush());
    }
    batch.forEach((w, i) => {
      const r = results[i]!;
      if (r.ok) w.resolve(r.value);
      else w.reject(r.error);
    });
  }

  /** Resolves when every write asked for so far is committed. */
  async drain(): Promise<void> {
    await this.write(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    if (this.queue.length && !this.flushing) this.flush();
    this.closed = true;
    this.statements.clear();
    try {
      this.db.close();
    } catch {
      // closing twice, or after the file went away: nothing left to release
    }
  }
}

/** A file that exists but does not start like an SQLite database is refused before SQLite touches it. */
function checkHeader(file: string): void {
  if (!existsSync(file)) return;
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(16);
    const n = readSync(fd, header, 0, 16, 0);
    if (n === 0) return; // an empty file becomes a new database
    if (n < 16 || header.toString('latin1') !== 'SQLite format 3\u0000') {
      throw new StoreOpenError(`${file} is not an SQLite database (it starts with ${JSON.stringify(header.subarray(0, n).toString('latin1').replace(/[^\x20-\x7e]/g, '.'))}).`);
    }
  } finally {
    closeSync(fd);
  }
}

/** " (pid N: command)" for the stack that holds a data directory, from the pid file it wrote. */
function holderOf(file: string): string {
  const pidFile = path.join(path.dirname(file), 'stack.pid');
  try {
    const { pid, command } = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; command?: string };
    return ` (pid ${pid}${command ? `: ${command}` : ''})`;
  } catch {
    return '';
  }
}

/** Records which process holds a data directory (for the message a second stack gets), removed on exit. */
export function writePidFile(dataDir: string): void {
  const pidFile = path.join(dataDir, 'stack.pid');
  writeFileSync(pidFile, JSON.stringify({ pid: process.pid, command: process.argv.slice(1).join(' '), startedAt: new Date().toISOString() }));
  process.once('exit', () => {
    try {
      unlinkSync(pidFile);
    } catch {
      // gone already
    }
  });
}

/** The store's file in a data directory. */
export function storeFile(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'workshop.db');
}

export function syncModeSetting(env: NodeJS.ProcessEnv = process.env): SyncMode {
  const v = (env.WORKSHOP_SQLITE_SYNC ?? '').trim().toUpperCase();
  if (v === '') return 'FULL';
  if (v === 'FULL' || v === 'NORMAL' || v === 'OFF') return v;
  throw new Error(`WORKSHOP_SQLITE_SYNC="${env.WORKSHOP_SQLITE_SYNC}" is not one of FULL (default: every acknowledged write survives power loss), NORMAL (survives a crash of the process, may lose the last writes to a power loss) or OFF (tests only).`);
}
