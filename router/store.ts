// Durable state of a node: deployed functions and their versions, in SQLite
// (node:sqlite, WAL, synchronous=FULL). A deploy is one transaction, so a node
// killed at any moment restarts with exactly the versions it acknowledged.
// Isolate hosts open the same file read-only to load scripts on cold starts,
// so the front door never holds every script in memory.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgefnError, type Limits, type WorkerFormat } from '../runtime/index.ts';
import type { StickyKey, TrafficShare } from '../sdk/wire.ts';
import { servedVersions, type Routing } from './traffic-split.ts';

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
  /** Compatibility flags (runtime/node-compat/flags.ts), checked. */
  compatibilityFlags?: readonly string[] | undefined;
}

/** A version's triggers and KV bindings (kept beside the version, in its own table). */
export interface VersionBindings {
  crons: string[];
  kv: Record<string, string>;
  /** Compatibility flags ([] for none). */
  compatibilityFlags?: string[];
}

/**
 * Versions kept per function besides the newest: the last 100 deploys stay
 * available for rollback. Older ones are pruned unless something still points
 * at them (the current version, the previous one, a traffic split's).
 */
const KEEP_OLD_VERSIONS = 99;

/** One stored version, as the versions list shows it. */
export interface VersionSummary {
  version: number;
  format: WorkerFormat;
  createdAt: string;
  /** Bytes of what was uploaded. */
  size: number;
}

/** A version replicated from the cluster, made current with the cluster's traffic split (if any). */
export interface InstalledVersion extends NewVersion {
  version: number;
  /** The cluster's split, whose other versions arrive in install()'s `alongside`; null or absent: none. */
  traffic?: TrafficShare[] | null;
  sticky?: StickyKey | null;
}

/** A deploy's gradual rollout: the new version's share, the rest to the version current before. */
export interface DeployRollout {
  percent: number;
  sticky: StickyKey | null;
}

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
-- How a function's traffic is routed besides functions.version (its current
-- version): the version current before it (a rollback's default target) and,
-- during a gradual rollout, the split (JSON [{version, percent}]) and its
-- sticky key (JSON). No row, or NULL traffic: every request to the current version.
CREATE TABLE IF NOT EXISTS rollouts (
  name TEXT PRIMARY KEY,
  previous INTEGER,
  traffic TEXT,
  sticky TEXT
);
CREATE TABLE IF NOT EXISTS routes (pattern TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS routes_by_name ON routes (name);
CREATE TABLE IF NOT EXISTS version_bindings (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  crons TEXT NOT NULL,
  kv TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
-- A version's compatibility flags, JSON ["nodejs_compat", …]; no row: none.
-- Its own table, so files from before flags existed need no migration.
CREATE TABLE IF NOT EXISTS version_flags (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  flags TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
`;

function parseRouting(current: number, row: Record<string, unknown> | undefined): Routing {
  const previous = row?.['previous'];
  const traffic = row?.['traffic'];
  const sticky = row?.['sticky'];
  return {
    current,
    previous: previous === null || previous === undefined ? null : Number(previous),
    traffic: typeof traffic === 'string' ? (JSON.parse(traffic) as TrafficShare[]) : null,
    sticky: typeof sticky === 'string' ? (JSON.parse(sticky) as StickyKey) : null,
  };
}

function rowToBindings(row: Record<string, unknown> | undefined): VersionBindings {
  if (row === undefined) return { crons: [], kv: {} };
  return { crons: JSON.parse(row['crons'] as string) as string[], kv: JSON.parse(row['kv'] as string) as Record<string, string> };
}

function rowToFlags(row: Record<string, unknown> | undefined): string[] {
  return row === undefined ? [] : (JSON.parse(row['flags'] as string) as string[]);
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
      pruneUnused: this.#db.prepare(`DELETE FROM versions WHERE name = ?1 AND version <= ?2 AND version NOT IN (SELECT value FROM json_each(?3))`),
      rollout: this.#db.prepare(`SELECT previous, traffic, sticky FROM rollouts WHERE name = ?`),
      setRollout: this.#db.prepare(`INSERT OR REPLACE INTO rollouts (name, previous, traffic, sticky) VALUES (?, ?, ?, ?)`),
      deleteRollout: this.#db.prepare(`DELETE FROM rollouts WHERE name = ?`),
      clearSplit: this.#db.prepare(`UPDATE rollouts SET traffic = NULL, sticky = NULL WHERE name = ?`),
      setSplit: this.#db.prepare(
        `INSERT INTO rollouts (name, previous, traffic, sticky) VALUES (?1, NULL, ?2, ?3) ON CONFLICT(name) DO UPDATE SET traffic = ?2, sticky = ?3`,
      ),
      versionList: this.#db.prepare(`SELECT version, format, created_at, length(CAST(source AS BLOB)) AS size FROM versions WHERE name = ? ORDER BY version DESC`),
      hasVersion: this.#db.prepare(`SELECT 1 FROM versions WHERE name = ? AND version = ?`),
      lastVersion: this.#db.prepare(`SELECT last_version FROM counters WHERE name = ?`),
      movePointer: this.#db.prepare(`UPDATE functions SET version = ?, updated_at = ? WHERE name = ?`),
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
      setBindings: this.#db.prepare(`INSERT OR REPLACE INTO version_bindings (name, version, crons, kv) VALUES (?, ?, ?, ?)`),
      pruneBindings: this.#db.prepare(`DELETE FROM version_bindings WHERE name = ? AND version NOT IN (SELECT version FROM versions WHERE name = ?)`),
      deleteBindings: this.#db.prepare(`DELETE FROM version_bindings WHERE name = ?`),
      setFlags: this.#db.prepare(`INSERT OR REPLACE INTO version_flags (name, version, flags) VALUES (?, ?, ?)`),
      pruneFlags: this.#db.prepare(`DELETE FROM version_flags WHERE name = ? AND version NOT IN (SELECT version FROM versions WHERE name = ?)`),
      deleteFlags: this.#db.prepare(`DELETE FROM version_flags WHERE name = ?`),
      flags: this.#db.prepare(`SELECT flags FROM version_flags WHERE name = ? AND version = ?`),
      bindings: this.#db.prepare(`SELECT crons, kv FROM version_bindings WHERE name = ? AND version = ?`),
      schedules: this.#db.prepare(
        `SELECT f.name, f.version, b.crons FROM functions f JOIN version_bindings b ON b.name = f.name AND b.version = f.version WHERE b.crons <> '[]' ORDER BY f.name`,
      ),
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

  /**
   * Atomically add a version and make it current. Returns it, whether the
   * function is new, and its routing now. With `rollout`, the new version
   * gets `percent` of the traffic and the version current before keeps the
   * rest. With `routes` (normalized patterns; see route-table.ts) those
   * become the function's routes; a route another function holds fails the
   * whole deploy with ERR_ROUTE_CONFLICT.
   */
  deploy(v: NewVersion, rollout?: DeployRollout, routes?: readonly string[]): { version: number; created: boolean; routing: Routing } {
    return this.#writing(() => this.#deploy(v, rollout, routes));
  }

  #deploy(v: NewVersion, rollout: DeployRollout | undefined, routes: readonly string[] | undefined): { version: number; created: boolean; routing: Routing } {
    const now = new Date().toISOString();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      const before = this.current(v.name);
      if (rollout !== undefined && rollout.percent < 100 && before === undefined) {
        throw new EdgefnError('ERR_INVALID_INPUT', `"percent" splits traffic between the new version and the current one, but "${v.name}" has no version yet: deploy it once without "percent"`);
      }
      if (routes !== undefined) this.#setRoutes(v.name, routes);
      const version = Number((this.#stmts['nextVersion']!.get(v.name) as { last_version: number }).last_version);
      this.#stmts['insertVersion']!.run(v.name, version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
      const created = Number((this.#stmts['upsertFunction']!.get(v.name, version, now, now) as { created: number }).created) === 1;
      const split = rollout !== undefined && rollout.percent < 100 && before !== undefined;
      const routing: Routing = {
        current: version,
        previous: before ?? null,
        traffic: split ? [{ version: before, percent: 100 - rollout.percent }, { version, percent: rollout.percent }] : null,
        sticky: split ? rollout.sticky : null,
      };
      this.#writeRouting(v.name, routing);
      this.#prune(v.name, version, routing);
      this.#writeBindings(v.name, version, v);
      this.#db.exec('COMMIT');
      return { version, created, routing };
    } catch (err) {
      this.#rollback();
      throw storeError(err, this.#path);
    }
  }

  /** How `name`'s traffic is routed now; undefined when there is no such function. */
  routing(name: string): Routing | undefined {
    const current = this.current(name);
    if (current === undefined) return undefined;
    return parseRouting(current, this.#stmts['rollout']!.get(name) as Record<string, unknown> | undefined);
  }

  /** Every stored version of `name`, newest first. */
  versions(name: string): VersionSummary[] {
    return this.#stmts['versionList']!.all(name).map((r) => ({
      version: Number(r['version']),
      format: r['format'] as WorkerFormat,
      createdAt: r['created_at'] as string,
      size: Number(r['size']),
    }));
  }

  /**
   * Make `version` (default: the version current before the current one) the
   * current one with all the traffic, in one transaction: a node killed right
   * after answering restarts serving it. The code is not copied; the
   * function's pointer moves, and the version it moved from becomes the
   * previous one (so a second rollback with no version undoes the first).
   */
  rollback(name: string, version: number | undefined): Routing {
    return this.#transaction(() => {
      const now = this.#routingOrThrow(name);
      const target = version ?? now.previous;
      if (target === null) throw new EdgefnError('ERR_INVALID_INPUT', `"${name}" has no previous version to roll back to (it is at version ${now.current}); name one with "version"`);
      this.#requireVersion(name, target, 'ERR_NOT_FOUND');
      const next: Routing = { current: target, previous: target === now.current ? now.previous : now.current, traffic: null, sticky: null };
      this.#stmts['movePointer']!.run(target, new Date().toISOString(), name);
      this.#writeRouting(name, next);
      return next;
    });
  }

  /**
   * Split `name`'s traffic between stored versions. The newest version in the
   * split becomes the current one (the version being rolled out); one share
   * of 100 % ends the split.
   */
  setTraffic(name: string, traffic: TrafficShare[], sticky: StickyKey | null): Routing {
    return this.#transaction(() => {
      const now = this.#routingOrThrow(name);
      for (const s of traffic) this.#requireVersion(name, s.version, 'ERR_INVALID_INPUT');
      const current = Math.max(...traffic.map((s) => s.version));
      const split = traffic.length > 1;
      const next: Routing = {
        current,
        previous: current === now.current ? now.previous : now.current,
        traffic: split ? traffic : null,
        sticky: split ? sticky : null,
      };
      if (current !== now.current) this.#stmts['movePointer']!.run(current, new Date().toISOString(), name);
      this.#writeRouting(name, next);
      return next;
    });
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const out = work();
      this.#db.exec('COMMIT');
      return out;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #routingOrThrow(name: string): Routing {
    const r = this.routing(name);
    if (r === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    return r;
  }

  #requireVersion(name: string, version: number, code: 'ERR_NOT_FOUND' | 'ERR_INVALID_INPUT'): void {
    if (this.#stmts['hasVersion']!.get(name, version) !== undefined) return;
    const kept = this.versions(name).map((v) => v.version);
    const range = kept.length === 0 ? 'none' : kept.length === 1 ? String(kept[0]) : `${kept.length} from ${kept.at(-1)} to ${kept[0]}`;
    const last = this.#stmts['lastVersion']!.get(name) as { last_version: number } | undefined;
    const pruned = last !== undefined && version <= Number(last.last_version);
    throw new EdgefnError(code, `"${name}" has no version ${version}: it was ${pruned ? 'pruned (the last 100 deploys are kept)' : 'never deployed'}; stored versions: ${range}`);
  }

  #writeRouting(name: string, r: Routing): void {
    this.#stmts['setRollout']!.run(name, r.previous, r.traffic === null ? null : JSON.stringify(r.traffic), r.sticky === null ? null : JSON.stringify(r.sticky));
  }

  /** Drop versions older than the last 100 deploys that nothing routes or rolls back to. */
  #prune(name: string, newest: number, r: Routing): void {
    const keep = [...servedVersions(r), ...(r.previous === null ? [] : [r.previous])];
    this.#stmts['pruneUnused']!.run(name, newest - 1 - KEEP_OLD_VERSIONS, JSON.stringify(keep));
  }

  /**
   * Make versions replicated from the cluster current under the numbers the
   * cluster gave them, in one transaction (10,000 arriving at once cost one
   * fsync, not 10,000). Idempotent: a node that stopped half-way through
   * applying them applies them again on restart.
   */
  install(versions: InstalledVersion[], alongside: Array<NewVersion & { version: number }> = []): void {
    this.#writing(() => this.#install(versions, alongside));
  }

  #install(versions: InstalledVersion[], alongside: Array<NewVersion & { version: number }>): void {
    const now = new Date().toISOString();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      // The other versions of the cluster's traffic splits: stored, not made current.
      for (const v of alongside) {
        this.#stmts['replaceVersion']!.run(v.name, v.version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
        this.#stmts['raiseCounter']!.run(v.name, v.version);
      }
      for (const v of versions) {
        this.#stmts['replaceVersion']!.run(v.name, v.version, v.format, v.source, v.code, JSON.stringify(v.vars), JSON.stringify(v.secrets), JSON.stringify(v.limits), v.cache ?? null, now);
        this.#stmts['setFunction']!.run(v.name, v.version, now, now);
        const split = v.traffic != null && v.traffic.length > 1 ? v.traffic : null;
        if (split === null) this.#stmts['clearSplit']!.run(v.name);
        else this.#stmts['setSplit']!.run(v.name, JSON.stringify(split), v.sticky == null ? null : JSON.stringify(v.sticky));
        this.#stmts['raiseCounter']!.run(v.name, v.version);
        this.#stmts['pruneUnused']!.run(v.name, v.version - 1 - KEEP_OLD_VERSIONS, JSON.stringify(split === null ? [v.version] : split.map((s) => s.version)));
        this.#writeBindings(v.name, v.version, v);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#rollback();
      throw storeError(err, this.#path);
    }
  }

  /** Every function's current version as stored (vars, secrets and limits as their JSON), for a node joining a cluster. */
  currentVersions(): Array<{ name: string; format: string; source: string; code: string; vars: string; secrets: string; limits: string }> {
    return this.#db
      .prepare('SELECT v.name, v.format, v.source, v.code, v.vars, v.secrets, v.limits FROM functions f JOIN versions v ON v.name = f.name AND v.version = f.version ORDER BY f.name')
      .all()
      .map((r) => ({ name: r['name'] as string, format: r['format'] as string, source: r['source'] as string, code: r['code'] as string, vars: r['vars'] as string, secrets: r['secrets'] as string, limits: r['limits'] as string }));
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
      this.#stmts['deleteRollout']!.run(name);
      this.#stmts['deleteRoutes']!.run(name);
      this.#stmts['deleteBindings']!.run(name);
      this.#stmts['deleteFlags']!.run(name);
      this.#db.exec('COMMIT');
      return changed;
    } catch (err) {
      this.#rollback();
      throw storeError(err, this.#path);
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

  /** After the version itself is written and old versions pruned: bindings live as long as their version. */
  #writeBindings(name: string, version: number, v: Pick<NewVersion, 'crons' | 'kv' | 'compatibilityFlags'>): void {
    this.#stmts['pruneBindings']!.run(name, name);
    this.#stmts['setBindings']!.run(name, version, JSON.stringify(v.crons ?? []), JSON.stringify(v.kv ?? {}));
    this.#stmts['pruneFlags']!.run(name, name);
    if (v.compatibilityFlags !== undefined && v.compatibilityFlags.length > 0) this.#stmts['setFlags']!.run(name, version, JSON.stringify(v.compatibilityFlags));
  }

  /** A version's cron triggers and KV bindings (none for versions deployed before they existed). */
  bindings(name: string, version: number): VersionBindings {
    const b = rowToBindings(this.#stmts['bindings']!.get(name, version) as Record<string, unknown> | undefined);
    return { ...b, compatibilityFlags: rowToFlags(this.#stmts['flags']!.get(name, version) as Record<string, unknown> | undefined) };
  }

  /** Every function whose current version has cron triggers. */
  schedules(): Array<{ name: string; version: number; crons: string[] }> {
    return this.#stmts['schedules']!.all().map((r) => ({ name: r['name'] as string, version: Number(r['version']), crons: JSON.parse(r['crons'] as string) as string[] }));
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
  readonly #limits: StatementSync;
  #bindings: StatementSync | undefined;
  #closed = false;

  constructor(path: string) {
    this.#db = new DatabaseSync(path, { readOnly: true });
    this.#db.exec('PRAGMA busy_timeout = 5000;');
    this.#get = this.#db.prepare(`SELECT format, code, vars, secrets, limits, cache FROM versions WHERE name = ? AND version = ?`);
    this.#limits = this.#db.prepare(`SELECT limits FROM versions WHERE name = ? AND version = ?`);
  }

  /** One version's own limits (not its code), for a host's route table. */
  limits(name: string, version: number): Partial<Limits> | undefined {
    const row = this.#limits.get(name, version) as { limits: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.limits) as Partial<Limits>);
  }

  /** Every custom route, as [pattern, function], for a host's route table at start-up. */
  patterns(): Array<[pattern: string, name: string]> {
    return this.#db.prepare('SELECT pattern, name FROM routes').all().map((r) => [r['pattern'] as string, r['name'] as string]);
  }

  /**
   * A version's KV bindings. Prepared on first use: a host may open a file
   * written by a front door from before the table existed (it is created by
   * the front door, which opens the file first).
   */
  kvBindings(name: string, version: number): Record<string, string> {
    // Prepared once (compiling the statement costs a cold start tens of µs).
    this.#bindings ??= this.#db.prepare(`SELECT crons, kv FROM version_bindings WHERE name = ? AND version = ?`);
    const row = this.#bindings.get(name, version) as Record<string, unknown> | undefined;
    return rowToBindings(row).kv;
  }

  /** A version's compatibility flags ([] for none; prepared on first use, like kvBindings). */
  compatibilityFlags(name: string, version: number): string[] {
    return rowToFlags(this.#db.prepare(`SELECT flags FROM version_flags WHERE name = ? AND version = ?`).get(name, version) as Record<string, unknown> | undefined);
  }

  /** Every function's current version, for a host's route table at start-up. */
  routes(): Array<[name: string, version: number]> {
    return this.#db.prepare('SELECT name, version FROM functions').all().map((r) => [r['name'] as string, Number(r['version'])]);
  }

  /** Every function's routing (current version and any traffic split), for a host's route table at start-up. */
  routings(): Array<[name: string, routing: Routing]> {
    return this.#db
      .prepare('SELECT f.name, f.version, r.previous, r.traffic, r.sticky FROM functions f LEFT JOIN rollouts r ON r.name = f.name')
      .all()
      .map((r) => [r['name'] as string, parseRouting(Number(r['version']), r as Record<string, unknown>)]);
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
