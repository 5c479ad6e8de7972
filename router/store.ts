// Durable state of a node: deployed functions and their versions, in SQLite
// (node:sqlite, WAL, synchronous=FULL). A deploy is one transaction, so a node
// killed at any moment restarts with exactly the versions it acknowledged.
// Isolate hosts open the same file read-only to load scripts on cold starts,
// so the front door never holds every script in memory.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgefnError, type Limits, type WorkerFormat } from '../runtime/index.ts';

export interface StoredFunction {
  name: string;
  version: number;
  format: WorkerFormat;
  vars: Record<string, string>;
  secretNames: string[];
  limits: Partial<Limits>;
  createdAt: string;
  updatedAt: string;
}

export interface StoredVersion {
  format: WorkerFormat;
  code: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  limits: Partial<Limits>;
  cache: Uint8Array | undefined;
}

export interface NewVersion {
  name: string;
  format: WorkerFormat;
  /** What was uploaded: the script, or for a module set the JSON of { main, modules }. */
  source: string;
  code: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  limits: Partial<Limits>;
  cache: Uint8Array | undefined;
}

/** Versions kept per function besides the current one (for in-flight cold loads). */
const KEEP_OLD_VERSIONS = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS functions (
  name TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  format TEXT NOT NULL,
  source TEXT NOT NULL,
  code TEXT NOT NULL,
  vars TEXT NOT NULL,
  secrets TEXT NOT NULL,
  limits TEXT NOT NULL,
  cache BLOB,
  created_at TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);
`;

function rowToFunction(row: Record<string, unknown>): StoredFunction {
  return {
    name: row['name'] as string,
    version: Number(row['version']),
    format: row['format'] as WorkerFormat,
    vars: JSON.parse(row['vars'] as string) as Record<string, string>,
    secretNames: Object.keys(JSON.parse(row['secrets'] as string) as object),
    limits: JSON.parse(row['limits'] as string) as Partial<Limits>,
    createdAt: row['created_at'] as string,
    updatedAt: row['updated_at'] as string,
  };
}

/** SQLite's primary result codes that mean the file cannot be written or read, not a bug (sqlite.org/rescode.html). */
const STORAGE_FAILURES: Record<number, string> = {
  3: 'permission denied',
  5: 'the database is locked by another process',
  8: 'the database is read-only',
  10: 'disk I/O error',
  11: 'the database file is corrupt',
  13: 'the disk is full',
  14: 'the database file cannot be opened',
  26: 'the file is not a database',
};

/**
 * A write that failed because of the storage under the store (a full disk,
 * a read-only file or directory, an I/O error) as ERR_STORE_UNAVAILABLE,
 * naming the file and the cause; anything else unchanged. This is the one
 * seam where node:sqlite's errors become ours.
 */
export function storeError(err: unknown, path: string): unknown {
  const e = err as { code?: unknown; errcode?: unknown; errstr?: unknown; message?: unknown };
  if (e === null || typeof e !== 'object' || e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  const why = STORAGE_FAILURES[e.errcode & 0xff];
  if (why === undefined) return err;
  return new EdgefnError('ERR_STORE_UNAVAILABLE', `the node's store ${path} cannot be written: ${why} (SQLite: ${String(e.message)}); functions keep being served, but deploys and deletes are refused until it can be written again`, { cause: err });
}

/** The front door's read-write handle. */
export class FunctionStore {
  #db!: DatabaseSync;
  #stmts!: Record<string, StatementSync>;
  readonly #path: string;
  #closed = false;

  constructor(path: string) {
    this.#path = path;
    mkdirSync(dirname(path), { recursive: true });
    try {
      this.#open();
    } catch (err) {
      // A WAL database in a directory that may not be written cannot even be
      // read without its -shm file: say which file, and why, at start-up.
      throw storeError(err, path);
    }
  }

  /**
   * Open the file and prepare every statement. A connection already open is
   * closed first: SQLite shares one descriptor and one -shm mapping between
   * the connections of a process to the same file, so a new connection next
   * to a read-only one would inherit its read-only descriptor.
   */
  #open(): void {
    const old = this.#db as DatabaseSync | undefined;
    if (old?.isOpen) old.close();
    this.#db = new DatabaseSync(this.#path);
    this.#prepareStatements();
  }

  #prepareStatements(): void {
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.#db.exec(SCHEMA);
    const listSql = `SELECT f.name, f.version, f.created_at, f.updated_at, v.format, v.vars, v.secrets, v.limits
      FROM functions f JOIN versions v ON v.name = f.name AND v.version = f.version`;
    this.#stmts = {
      list: this.#db.prepare(`${listSql} ORDER BY f.name`),
      get: this.#db.prepare(`${listSql} WHERE f.name = ?`),
      nextVersion: this.#db.prepare(
        `INSERT INTO counters (name, last_version) VALUES (?, 1)
         ON CONFLICT(name) DO UPDATE SET last_version = last_version + 1 RETURNING last_version`,
      ),
      insertVersion: this.#db.prepare(
        `INSERT INTO versions (name, version, format, source, code, vars, secrets, limits, cache, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      upsertFunction: this.#db.prepare(
        `INSERT INTO functions (name, version, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at RETURNING created_at = updated_at AS created`,
      ),
      pruneVersions: this.#db.prepare(`DELETE FROM versions WHERE name = ? AND version <= ?`),
      deleteFunction: this.#db.prepare(`DELETE FROM functions WHERE name = ?`),
      deleteVersions: this.#db.prepare(`DELETE FROM versions WHERE name = ?`),
      setCache: this.#db.prepare(`UPDATE versions SET cache = ? WHERE name = ? AND version = ?`),
      replaceVersion: this.#db.prepare(
        `INSERT OR REPLACE INTO versions (name, version, format, source, code, vars, secrets, limits, cache, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setFunction: this.#db.prepare(
        `INSERT INTO functions (name, version, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      ),
      raiseCounter: this.#db.prepare(
        `INSERT INTO counters (name, last_version) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET last_version = max(last_version, ?2)`,
      ),
      current: this.#db.prepare(`SELECT version FROM functions WHERE name = ?`),
    };
  }

  /**
   * Run a write; when it fails because the connection is read-only, open the
   * file again and retry once. SQLite opens a file it may not write read-only
   * and stays so, so without this a node started on a read-only data
   * directory would refuse deploys until restarted, even after its
   * permissions were put right.
   */
  #writing<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      const cause = err instanceof EdgefnError ? err.cause : err;
      if ((Number((cause as { errcode?: unknown } | undefined)?.errcode) & 0xff) !== 8) throw err;
      try {
        this.#open();
      } catch {
        // Reads must go on: back to whatever connection the file allows.
        try {
          this.#open();
        } catch {
          // Reads fail too now, each with its own error.
        }
        throw err;
      }
      return write();
    }
  }

  /**
   * After a failed write SQLite may already have rolled the transaction back
   * itself (it does on a full disk or an I/O error); a second ROLLBACK would
   * then throw and hide the error that matters.
   */
  #rollback(): void {
    if (!this.#db.isTransaction) return;
    try {
      this.#db.exec('ROLLBACK');
    } catch {
      // The write's own error is the one reported.
    }
  }

  list(): StoredFunction[] {
    return this.#stmts['list']!.all().map((r) => rowToFunction(r as Record<string, unknown>));
  }

  get(name: string): StoredFunction | undefined {
    const row = this.#stmts['get']!.get(name);
    return row === undefined ? undefined : rowToFunction(row as Record<string, unknown>);
  }

  /** Atomically add a version and make it current. Returns it and whether the function is new. */
  deploy(v: NewVersion): { version: number; created: boolean } {
    return this.#writing(() => this.#deploy(v));
  }

  #deploy(v: NewVersion): { version: number; created: boolean } {
    const now = new Date().toISOString();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      const version = Number((this.#stmts['nextVersion']!.get(v.name) as { last_version: number }).last_version);
      this.#stmts['insertVersion']!.run(v.name, version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
      const created = Number((this.#stmts['upsertFunction']!.get(v.name, version, now, now) as { created: number }).created) === 1;
      this.#stmts['pruneVersions']!.run(v.name, version - 1 - KEEP_OLD_VERSIONS);
      this.#db.exec('COMMIT');
      return { version, created };
    } catch (err) {
      this.#rollback();
      throw storeError(err, this.#path);
    }
  }

  /**
   * Make versions replicated from the cluster current under the numbers the
   * cluster gave them, in one transaction (10,000 arriving at once cost one
   * fsync, not 10,000). Idempotent: a node that stopped half-way through
   * applying them applies them again on restart.
   */
  install(versions: Array<NewVersion & { version: number }>): void {
    this.#writing(() => this.#install(versions));
  }

  #install(versions: Array<NewVersion & { version: number }>): void {
    const now = new Date().toISOString();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const v of versions) {
        this.#stmts['replaceVersion']!.run(v.name, v.version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
        this.#stmts['setFunction']!.run(v.name, v.version, now, now);
        this.#stmts['raiseCounter']!.run(v.name, v.version);
        this.#stmts['pruneVersions']!.run(v.name, v.version - 1 - KEEP_OLD_VERSIONS);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#rollback();
      throw storeError(err, this.#path);
    }
  }

  /** The version this node serves for `name`, if any. */
  current(name: string): number | undefined {
    const row = this.#stmts['current']!.get(name) as { version: number } | undefined;
    return row === undefined ? undefined : Number(row.version);
  }

  delete(name: string): boolean {
    return this.#writing(() => this.#delete(name));
  }

  #delete(name: string): boolean {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      const changed = Number(this.#stmts['deleteFunction']!.run(name).changes) > 0;
      this.#stmts['deleteVersions']!.run(name);
      this.#db.exec('COMMIT');
      return changed;
    } catch (err) {
      this.#rollback();
      throw storeError(err, this.#path);
    }
  }

  setCache(name: string, version: number, cache: Uint8Array): void {
    try {
      this.#stmts['setCache']!.run(cache, name, version);
    } catch (err) {
      throw storeError(err, this.#path);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#db.isOpen) this.#db.close();
  }
}

/** An isolate host's read-only handle: loads one version for a cold start. */
export class VersionReader {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  #closed = false;

  constructor(path: string) {
    this.#db = new DatabaseSync(path, { readOnly: true });
    this.#db.exec('PRAGMA busy_timeout = 5000;');
    this.#get = this.#db.prepare(`SELECT format, code, vars, secrets, limits, cache FROM versions WHERE name = ? AND version = ?`);
  }

  /** Every function's current version, for a host's route table at start-up. */
  routes(): Array<[name: string, version: number]> {
    return this.#db.prepare('SELECT name, version FROM functions').all().map((r) => [r['name'] as string, Number(r['version'])]);
  }

  get(name: string, version: number): StoredVersion | undefined {
    const row = this.#get.get(name, version) as Record<string, unknown> | undefined;
    if (row === undefined) return undefined;
    return {
      format: row['format'] as WorkerFormat,
      code: row['code'] as string,
      vars: JSON.parse(row['vars'] as string) as Record<string, string>,
      secrets: JSON.parse(row['secrets'] as string) as Record<string, string>,
      limits: JSON.parse(row['limits'] as string) as Partial<Limits>,
      cache: row['cache'] == null ? undefined : (row['cache'] as Uint8Array),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
