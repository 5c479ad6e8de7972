// Durable state of a node: deployed functions and their versions, in SQLite
// (node:sqlite, WAL, synchronous=FULL). A deploy is one transaction, so a node
// killed at any moment restarts with exactly the versions it acknowledged.
// Isolate hosts open the same file read-only to load scripts on cold starts,
// so the front door never holds every script in memory.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Limits, WorkerFormat } from '../runtime/index.ts';

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
  /** Scheduled triggers: cron expressions, checked by router/cron.ts. */
  crons?: string[] | undefined;
  /** KV bindings: binding name → namespace. */
  kv?: Record<string, string> | undefined;
}

/** A version's triggers and KV bindings (kept beside the version, in its own table). */
export interface VersionBindings {
  crons: string[];
  kv: Record<string, string>;
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
CREATE TABLE IF NOT EXISTS version_bindings (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  crons TEXT NOT NULL,
  kv TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
`;

function rowToBindings(row: Record<string, unknown> | undefined): VersionBindings {
  if (row === undefined) return { crons: [], kv: {} };
  return { crons: JSON.parse(row['crons'] as string) as string[], kv: JSON.parse(row['kv'] as string) as Record<string, string> };
}

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
      setBindings: this.#db.prepare(`INSERT OR REPLACE INTO version_bindings (name, version, crons, kv) VALUES (?, ?, ?, ?)`),
      pruneBindings: this.#db.prepare(`DELETE FROM version_bindings WHERE name = ? AND version <= ?`),
      deleteBindings: this.#db.prepare(`DELETE FROM version_bindings WHERE name = ?`),
      bindings: this.#db.prepare(`SELECT crons, kv FROM version_bindings WHERE name = ? AND version = ?`),
      schedules: this.#db.prepare(
        `SELECT f.name, f.version, b.crons FROM functions f JOIN version_bindings b ON b.name = f.name AND b.version = f.version WHERE b.crons <> '[]' ORDER BY f.name`,
      ),
    };
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
    const now = new Date().toISOString();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const version = Number((this.#stmts['nextVersion']!.get(v.name) as { last_version: number }).last_version);
      this.#stmts['insertVersion']!.run(v.name, version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
      const created = Number((this.#stmts['upsertFunction']!.get(v.name, version, now, now) as { created: number }).created) === 1;
      this.#stmts['pruneVersions']!.run(v.name, version - 1 - KEEP_OLD_VERSIONS);
      this.#writeBindings(v.name, version, v);
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
        this.#writeBindings(v.name, v.version, v);
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
      this.#stmts['deleteBindings']!.run(name);
      this.#db.exec('COMMIT');
      return changed;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #writeBindings(name: string, version: number, v: Pick<NewVersion, 'crons' | 'kv'>): void {
    this.#stmts['pruneBindings']!.run(name, version - 1 - KEEP_OLD_VERSIONS);
    this.#stmts['setBindings']!.run(name, version, JSON.stringify(v.crons ?? []), JSON.stringify(v.kv ?? {}));
  }

  /** A version's cron triggers and KV bindings (none for versions deployed before they existed). */
  bindings(name: string, version: number): VersionBindings {
    return rowToBindings(this.#stmts['bindings']!.get(name, version) as Record<string, unknown> | undefined);
  }

  /** Every function whose current version has cron triggers. */
  schedules(): Array<{ name: string; version: number; crons: string[] }> {
    return this.#stmts['schedules']!.all().map((r) => ({ name: r['name'] as string, version: Number(r['version']), crons: JSON.parse(r['crons'] as string) as string[] }));
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

  /**
   * A version's KV bindings. Prepared on first use: a host may open a file
   * written by a front door from before the table existed (it is created by
   * the front door, which opens the file first).
   */
  kvBindings(name: string, version: number): Record<string, string> {
    const row = this.#db.prepare(`SELECT crons, kv FROM version_bindings WHERE name = ? AND version = ?`).get(name, version) as Record<string, unknown> | undefined;
    return rowToBindings(row).kv;
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
