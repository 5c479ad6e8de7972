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
CREATE TABLE IF NOT EXISTS routes (pattern TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS routes_by_name ON routes (name);
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

/** The front door's read-write handle. */
export class FunctionStore {
  readonly #db: DatabaseSync;
  readonly #stmts: Record<string, StatementSync>;
  #closed = false;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
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
      allRoutes: this.#db.prepare(`SELECT pattern, name FROM routes ORDER BY pattern`),
      routeOwner: this.#db.prepare(`SELECT name FROM routes WHERE pattern = ? AND name != ?`),
      deleteRoutes: this.#db.prepare(`DELETE FROM routes WHERE name = ?`),
      insertRoute: this.#db.prepare(`INSERT INTO routes (pattern, name) VALUES (?, ?)`),
      replaceRoute: this.#db.prepare(`INSERT OR REPLACE INTO routes (pattern, name) VALUES (?, ?)`),
    };
  }

  list(): StoredFunction[] {
    return this.#stmts['list']!.all().map((r) => rowToFunction(r as Record<string, unknown>));
  }

  get(name: string): StoredFunction | undefined {
    const row = this.#stmts['get']!.get(name);
    return row === undefined ? undefined : rowToFunction(row as Record<string, unknown>);
  }

  /**
   * Atomically add a version and make it current, and with `routes` (normalized
   * patterns; see route-table.ts) make those the function's routes. Returns the
   * version and whether the function is new. A route another function holds
   * fails the whole deploy with ERR_ROUTE_CONFLICT.
   */
  deploy(v: NewVersion, routes?: readonly string[]): { version: number; created: boolean } {
    const now = new Date().toISOString();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      if (routes !== undefined) this.#setRoutes(v.name, routes);
      const version = Number((this.#stmts['nextVersion']!.get(v.name) as { last_version: number }).last_version);
      this.#stmts['insertVersion']!.run(v.name, version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
      const created = Number((this.#stmts['upsertFunction']!.get(v.name, version, now, now) as { created: number }).created) === 1;
      this.#stmts['pruneVersions']!.run(v.name, version - 1 - KEEP_OLD_VERSIONS);
      this.#db.exec('COMMIT');
      return { version, created };
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * Make versions replicated from the cluster current under the numbers the
   * cluster gave them, in one transaction (10,000 arriving at once cost one
   * fsync, not 10,000). Idempotent: a node that stopped half-way through
   * applying them applies them again on restart.
   */
  install(versions: Array<NewVersion & { version: number }>): void {
    const now = new Date().toISOString();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const v of versions) {
        this.#stmts['replaceVersion']!.run(v.name, v.version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
        this.#stmts['setFunction']!.run(v.name, v.version, now, now);
        this.#stmts['raiseCounter']!.run(v.name, v.version);
        this.#stmts['pruneVersions']!.run(v.name, v.version - 1 - KEEP_OLD_VERSIONS);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** The version this node serves for `name`, if any. */
  current(name: string): number | undefined {
    const row = this.#stmts['current']!.get(name) as { version: number } | undefined;
    return row === undefined ? undefined : Number(row.version);
  }

  delete(name: string): boolean {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const changed = Number(this.#stmts['deleteFunction']!.run(name).changes) > 0;
      this.#stmts['deleteVersions']!.run(name);
      this.#stmts['deleteRoutes']!.run(name);
      this.#db.exec('COMMIT');
      return changed;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Inside a transaction: replace the routes of `name`, refusing any another function holds. */
  #setRoutes(name: string, routes: readonly string[]): void {
    for (const pattern of routes) {
      const row = this.#stmts['routeOwner']!.get(pattern, name) as { name: string } | undefined;
      if (row !== undefined) throw routeConflict(pattern, row.name);
    }
    this.#stmts['deleteRoutes']!.run(name);
    for (const pattern of routes) this.#stmts['insertRoute']!.run(pattern, name);
  }

  /**
   * Make `patterns` the routes of each function, as a cluster replicated them
   * (PostgreSQL already refused conflicts), in one transaction.
   */
  replaceRoutes(changes: ReadonlyArray<{ name: string; patterns: readonly string[] }>): void {
    if (changes.length === 0) return;
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const c of changes) {
        this.#stmts['deleteRoutes']!.run(c.name);
        for (const pattern of c.patterns) this.#stmts['replaceRoute']!.run(pattern, c.name);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Every route, as [pattern, function]. */
  routes(): Array<[pattern: string, name: string]> {
    return this.#stmts['allRoutes']!.all().map((r) => [r['pattern'] as string, r['name'] as string]);
  }

  setCache(name: string, version: number, cache: Uint8Array): void {
    this.#stmts['setCache']!.run(cache, name, version);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
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

  /** Every custom route, as [pattern, function], for a host's route table at start-up. */
  patterns(): Array<[pattern: string, name: string]> {
    return this.#db.prepare('SELECT pattern, name FROM routes').all().map((r) => [r['pattern'] as string, r['name'] as string]);
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

/** The refusal of a route another function already holds (409). */
export function routeConflict(pattern: string, owner: string): EdgefnError {
  return new EdgefnError('ERR_ROUTE_CONFLICT', `route "${pattern}" is already claimed by function "${owner}"; remove it from that function's routes (or delete "${owner}") first`);
}
