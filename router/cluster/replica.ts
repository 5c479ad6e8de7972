// A node's local copy of the cluster's state, in the node's own SQLite file
// beside its FunctionStore: where every function is placed (so the front door
// can route without PostgreSQL), the last change applied, and the few facts a
// node needs to keep working while PostgreSQL is out of reach (the cluster
// secret, its node id, the last node list). Code is kept, in FunctionStore,
// only for functions placed in this node's region: that is what the isolate
// hosts load and what this node serves.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Limits, WorkerFormat } from '../../runtime/index.ts';
import type { StickyKey, TrafficShare } from '../../sdk/wire.ts';
import type { FunctionStore, InstalledVersion, NewVersion, StoredFunction } from '../store.ts';
import type { FunctionChange, VersionPayload } from './cluster-db.ts';

/** A route change for this node's hosts: the version served (null: none) and any traffic split. */
export interface RouteChange {
  name: string;
  version: number | null;
  traffic?: TrafficShare[] | null;
  sticky?: StickyKey | null;
}

function toVersion(name: string, version: number, p: VersionPayload): NewVersion & { version: number } {
  return {
    name,
    version,
    format: p.format as WorkerFormat,
    source: p.source,
    code: p.code,
    vars: JSON.parse(p.vars) as Record<string, string>,
    secrets: JSON.parse(p.secrets) as Record<string, string>,
    limits: JSON.parse(p.limits) as Partial<Limits>,
    cache: undefined,
    ...(p.bindings == null ? {} : (JSON.parse(p.bindings) as { crons: string[]; kv: Record<string, string>; compatibilityFlags?: string[] })),
  };
}

export interface Placement {
  /** null: every region. */
  regions: string[] | null;
  /** placement.near: run it in the region (of `regions`) measured nearest to this backend URL. */
  near: string | null;
}

export interface ClusterFunction extends StoredFunction, Placement {}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cluster_functions (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  version INTEGER NOT NULL,
  regions TEXT,
  format TEXT NOT NULL,
  vars TEXT NOT NULL,
  secret_names TEXT NOT NULL,
  limits TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  routes TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS cluster_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export function placedIn(p: Placement, region: string): boolean {
  return p.regions === null || p.regions.includes(region);
}

function rowToFunction(r: Record<string, unknown>): ClusterFunction {
  return {
    name: r['name'] as string,
    version: Number(r['version']),
    format: r['format'] as WorkerFormat,
    vars: JSON.parse(r['vars'] as string) as Record<string, string>,
    secretNames: JSON.parse(r['secret_names'] as string) as string[],
    limits: JSON.parse(r['limits'] as string) as Partial<Limits>,
    createdAt: r['created_at'] as string,
    updatedAt: r['updated_at'] as string,
    regions: r['regions'] === null ? null : (JSON.parse(r['regions'] as string) as string[]),
    near: (r['near'] as string | null | undefined) ?? null,
  };
}

export class Replica {
  readonly #db: DatabaseSync;
  readonly #store: FunctionStore;
  readonly #region: string;
  readonly #stmts: Record<string, StatementSync>;
  /** name → placement, for the front door's per-connection decision. */
  readonly #placements = new Map<string, Placement>();
  #seq: number;
  #closed = false;

  constructor(path: string, store: FunctionStore, region: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.#db.exec(SCHEMA);
    // Added after the table: a copy made by an older node gains it here.
    if (!this.#db.prepare('PRAGMA table_info(cluster_functions)').all().some((c) => c['name'] === 'near')) this.#db.exec('ALTER TABLE cluster_functions ADD COLUMN near TEXT');
    // A copy made before routes existed gains the column (empty: the next catch-up fills it).
    if (!this.#db.prepare('PRAGMA table_info(cluster_functions)').all().some((c) => c['name'] === 'routes')) {
      this.#db.exec(`ALTER TABLE cluster_functions ADD COLUMN routes TEXT NOT NULL DEFAULT '[]'`);
    }
    this.#store = store;
    this.#region = region;
    this.#stmts = {
      upsert: this.#db.prepare(
        `INSERT OR REPLACE INTO cluster_functions (name, seq, version, regions, near, format, vars, secret_names, limits, created_at, updated_at, routes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      remove: this.#db.prepare('DELETE FROM cluster_functions WHERE name = ?'),
      list: this.#db.prepare('SELECT * FROM cluster_functions ORDER BY name'),
      get: this.#db.prepare('SELECT * FROM cluster_functions WHERE name = ?'),
      routesOf: this.#db.prepare('SELECT routes FROM cluster_functions WHERE name = ?'),
      getState: this.#db.prepare('SELECT value FROM cluster_state WHERE key = ?'),
      setState: this.#db.prepare('INSERT OR REPLACE INTO cluster_state (key, value) VALUES (?, ?)'),
    };
    for (const r of this.#db.prepare('SELECT name, regions, near FROM cluster_functions').all()) {
      this.#placements.set(r['name'] as string, { regions: r['regions'] === null ? null : (JSON.parse(r['regions'] as string) as string[]), near: (r['near'] as string | null) ?? null });
    }
    this.#seq = Number(this.state('seq') ?? 0);
  }

  /** The last change applied. */
  get seq(): number {
    return this.#seq;
  }

  placement(name: string): Placement | undefined {
    return this.#placements.get(name);
  }

  /** Functions placed in `region` near a backend, with their placements. */
  placedNear(region: string): Array<[name: string, p: Placement & { near: string }]> {
    const out: Array<[string, Placement & { near: string }]> = [];
    for (const [name, p] of this.#placements) if (p.near !== null && placedIn(p, region)) out.push([name, p as Placement & { near: string }]);
    return out;
  }

  list(): ClusterFunction[] {
    return this.#stmts['list']!.all().map((r) => rowToFunction(r as Record<string, unknown>));
  }

  get(name: string): ClusterFunction | undefined {
    const r = this.#stmts['get']!.get(name);
    return r === undefined ? undefined : rowToFunction(r as Record<string, unknown>);
  }

  state(key: string): string | undefined {
    const r = this.#stmts['getState']!.get(key) as { value: string } | undefined;
    return r?.value;
  }

  setState(key: string, value: string): void {
    this.#stmts['setState']!.run(key, value);
  }

  /**
   * Apply changes read from PostgreSQL, in seq order. Returns the route
   * changes this node's hosts need: the version now served here, or null
   * where this node stops serving a function (deleted, or placed elsewhere).
   */
  apply(changes: FunctionChange[], patternsOut?: Array<{ name: string; patterns: string[] }>): RouteChange[] {
    const routes = new Map<string, RouteChange>();
    const installs = new Map<string, InstalledVersion>();
    const alongside = new Map<string, Array<NewVersion & { version: number }>>();
    const fresh = changes.filter((c) => c.seq > this.#seq);
    for (const c of fresh) {
      const here = !c.deleted && placedIn(c, this.#region);
      if (here && c.payload !== undefined) {
        const now = this.#store.routing(c.name);
        const sameSplit = JSON.stringify(now?.traffic ?? null) === JSON.stringify(c.traffic) && JSON.stringify(now?.sticky ?? null) === JSON.stringify(c.sticky);
        if (now?.current !== c.version || !sameSplit) {
          installs.set(c.name, { ...toVersion(c.name, c.version, c.payload), traffic: c.traffic, sticky: c.sticky });
          alongside.set(c.name, c.alongside.map((a) => toVersion(c.name, a.version, a.payload)));
          routes.set(c.name, { name: c.name, version: c.version, traffic: c.traffic, sticky: c.sticky });
        }
      } else if (!here) {
        installs.delete(c.name);
        alongside.delete(c.name);
        if (this.#store.current(c.name) !== undefined || routes.has(c.name)) routes.set(c.name, { name: c.name, version: null });
      }
      // A change whose version was pruned before we read it (two deploys in
      // quick succession) has no payload; a later change carries the newer one.
    }
    this.#store.install([...installs.values()], [...alongside.values()].flat());
    for (const [name, r] of routes) if (r.version === null) this.#store.delete(name);
    // Custom routes of every function, wherever it runs: the front door must
    // know a route to a function placed elsewhere to forward its requests. The
    // store's copy (what isolate hosts load at start-up) is rewritten for each
    // change (a delete above took it); the caller is told of real changes.
    const patterns = new Map<string, string[]>();
    for (const c of fresh) patterns.set(c.name, c.deleted ? [] : c.routes);
    const changed: Array<{ name: string; patterns: string[] }> = [];
    for (const [name, list] of patterns) {
      const row = this.#stmts['routesOf']!.get(name) as { routes: string } | undefined;
      if ((row?.routes ?? '[]') !== JSON.stringify(list)) changed.push({ name, patterns: list });
    }
    this.#store.replaceRoutes([...patterns].map(([name, list]) => ({ name, patterns: list })));
    patternsOut?.push(...changed);
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const c of fresh) {
        if (c.deleted) {
          this.#stmts['remove']!.run(c.name);
          this.#placements.delete(c.name);
        } else {
          this.#stmts['upsert']!.run(c.name, c.seq, c.version, c.regions === null ? null : JSON.stringify(c.regions), c.near, c.format ?? 'module', c.vars ?? '{}', JSON.stringify(c.secretNames), c.limits ?? '{}', c.createdAt, c.updatedAt, JSON.stringify(c.routes));
          this.#placements.set(c.name, { regions: c.regions, near: c.near });
        }
        this.#seq = c.seq;
      }
      this.setState('seq', String(this.#seq));
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return [...routes.values()];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
