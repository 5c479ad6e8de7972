// The cluster's system of record in PostgreSQL: functions, their versions and
// placements, the node registry and the cluster secret. Every node writes here
// and keeps a local copy (replica.ts) that it serves from.
//
// Changes are ordered by one sequence (`seq`): every write takes the same
// transaction-scoped advisory lock, so seq order is commit order and a node
// that has applied everything up to seq N never misses a change below it
// (without the lock a transaction holding seq 10 could commit after one
// holding seq 11 had been read). A NOTIFY on `edgefn_changes` with the new
// seq wakes every node's LISTEN connection; a node that missed notifications
// (reconnecting) catches up from its last seq.

import pg from 'pg';
import { EdgefnError } from '../../runtime/index.ts';
import type { StickyKey, TrafficShare } from '../../sdk/wire.ts';
import { routeConflict } from '../store.ts';
import type { KvChange, KvWrite } from '../kv-store.ts';

export const CHANGES_CHANNEL = 'edgefn_changes';
/** NOTIFY channel of KV writes (payload: the change's seq). */
export const KV_CHANNEL = 'edgefn_kv';
/** Key of the advisory lock every KV write holds: KV changes are numbered in commit order, apart from deploys. */
const KV_LOCK = 0x65646b76; // "edkv"
/** Key of the one advisory lock every write transaction holds. */
const WRITE_LOCK = 0x65646766; // "edgf"
/** Old versions kept per function besides the newest, as the local store does: the last 100 deploys stay available for rollback. */
const KEEP_OLD_VERSIONS = 99;
/** How long a deploy waits for a connection or a query before answering 503 store-unavailable (ms). */
const CONNECT_TIMEOUT_MS = 2_000;
const QUERY_TIMEOUT_MS = 10_000;
/** Rows per catch-up query: bounded so 10,000 functions arrive in a few round trips, not one huge result. */
export const CHANGE_BATCH = 2_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS edgefn_functions (
  name text PRIMARY KEY,
  version integer NOT NULL,
  last_version integer NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  regions text[],
  seq bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS edgefn_functions_seq ON edgefn_functions (seq);
-- The version current before the current one: a rollback's default target.
ALTER TABLE edgefn_functions ADD COLUMN IF NOT EXISTS previous integer;
-- During a gradual rollout: the split (JSON [{version, percent}]) and its sticky key (JSON); NULL: all to version.
ALTER TABLE edgefn_functions ADD COLUMN IF NOT EXISTS traffic text;
ALTER TABLE edgefn_functions ADD COLUMN IF NOT EXISTS sticky text;
CREATE TABLE IF NOT EXISTS edgefn_versions (
  name text NOT NULL,
  version integer NOT NULL,
  format text NOT NULL,
  source text NOT NULL,
  code text NOT NULL,
  vars text NOT NULL,
  secrets text NOT NULL,
  limits text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE SEQUENCE IF NOT EXISTS edgefn_change_seq;
CREATE TABLE IF NOT EXISTS edgefn_nodes (
  id text PRIMARY KEY,
  region text NOT NULL,
  advertise_url text NOT NULL,
  api_url text NOT NULL,
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS edgefn_cluster (key text PRIMARY KEY, value text NOT NULL);
ALTER TABLE edgefn_functions ADD COLUMN IF NOT EXISTS near text;
CREATE TABLE IF NOT EXISTS edgefn_near_rtt (
  target text NOT NULL,
  node_id text NOT NULL,
  region text NOT NULL,
  rtt_ms double precision,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (target, node_id)
);
ALTER TABLE edgefn_functions ADD COLUMN IF NOT EXISTS routes text[] NOT NULL DEFAULT '{}';
CREATE TABLE IF NOT EXISTS edgefn_routes (pattern text PRIMARY KEY, name text NOT NULL);
-- A version's cron triggers and KV bindings, JSON { crons, kv }; null for none.
ALTER TABLE edgefn_versions ADD COLUMN IF NOT EXISTS bindings text;
-- One row per scheduled time run in the cluster: the node whose insert made
-- the row runs it, every other node skips it.
CREATE TABLE IF NOT EXISTS edgefn_cron_runs (
  name text NOT NULL,
  cron text NOT NULL,
  scheduled_time bigint NOT NULL,
  node_id text NOT NULL,
  claimed_at timestamptz NOT NULL,
  PRIMARY KEY (name, cron, scheduled_time)
);
-- KV namespaces: the system of record in a cluster; every node keeps a copy
-- (router/cluster/kv-replica.ts). A deletion stays as a row (deleted, empty
-- value) with its seq, so every copy learns of it.
CREATE SEQUENCE IF NOT EXISTS edgefn_kv_seq;
CREATE TABLE IF NOT EXISTS edgefn_kv (
  namespace text NOT NULL,
  key text NOT NULL,
  value bytea NOT NULL,
  metadata text,
  expiration bigint,
  deleted boolean NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS edgefn_kv_seq_idx ON edgefn_kv (seq);
`;

export interface VersionPayload {
  format: string;
  source: string;
  code: string;
  vars: string;
  secrets: string;
  limits: string;
  /** JSON { crons, kv, compatibilityFlags? } (store.ts VersionBindings); null or absent for none. */
  bindings?: string | null;
}

/** One function's state at `seq`, as a node's catch-up reads it. */
export interface FunctionChange {
  name: string;
  seq: number;
  /** 0 once deleted. */
  version: number;
  deleted: boolean;
  /** null: every region. */
  regions: string[] | null;
  near: string | null;
  createdAt: string;
  updatedAt: string;
  /** Format, vars (JSON), secret names and limits (JSON): what the API shows, for every function. */
  format: string | null;
  vars: string | null;
  secretNames: string[];
  limits: string | null;
  /** The code, only for functions placed in the reader's region. */
  payload: VersionPayload | undefined;
  /** During a gradual rollout: the split, and the code of its versions other than `version` (for the reader's region). */
  traffic: TrafficShare[] | null;
  sticky: StickyKey | null;
  alongside: Array<{ version: number; payload: VersionPayload }>;
  /** Its custom routes (router/route-table.ts), normalized; [] once deleted. */
  routes: string[];
}

export interface NodeRow {
  id: string;
  region: string;
  advertiseUrl: string;
  apiUrl: string;
  /** Since the node's last heartbeat, by PostgreSQL's clock (ms). */
  heartbeatAgeMs: number;
}

export interface DeployRecord extends VersionPayload {
  name: string;
  regions: string[] | null;
  /** placement.near: the backend whose nearest region (by measured latency) runs the function. */
  near: string | null;
  /** A gradual rollout: the new version's share in percent, the rest to the version current before. */
  rollout?: { percent: number; sticky: StickyKey | null } | undefined;
  /** Normalized route patterns; undefined keeps the function's routes. */
  routes?: string[] | undefined;
}

/** A function's routing as PostgreSQL records it, with the change's seq. */
export interface ClusterRouting {
  current: number;
  previous: number | null;
  traffic: TrafficShare[] | null;
  sticky: StickyKey | null;
  seq: number;
}

/** One node's latest latency to a placement.near backend; null when it could not reach it. */
export interface NearRtt {
  target: string;
  nodeId: string;
  region: string;
  rttMs: number | null;
}

/** A node's latency report older than this is not used to place functions (s). */
const NEAR_RTT_MAX_AGE_S = 10;

/** Our one seam from pg's failures to our codes: anything that is not a query's own error means the database is out of reach. */
export function storeUnavailable(err: unknown): EdgefnError {
  if (err instanceof EdgefnError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new EdgefnError('ERR_STORE_UNAVAILABLE', `the cluster's PostgreSQL cannot be reached (${why}); functions keep being served from this node's copy, but deploys and deletes are refused until it is back`, { cause: err });
}

export class ClusterDb {
  readonly #pool: pg.Pool;
  readonly #url: string;
  #closed = false;

  constructor(url: string) {
    this.#url = url;
    this.#pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, idleTimeoutMillis: 10_000 });
    // An idle client whose server went away emits here; the pool drops it.
    this.#pool.on('error', () => {});
  }

  async #tx<T>(work: (c: pg.PoolClient) => Promise<T>, lock = WRITE_LOCK): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw storeUnavailable(err);
    }
    // A checked-out client has no pool listener: a connection cut mid-
    // transaction would otherwise be an unhandled 'error' (the query fails too).
    const onError = () => {};
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [lock]);
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err instanceof EdgefnError ? err : storeUnavailable(err);
    } finally {
      client.off('error', onError);
      client.release();
    }
  }

  async #query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    try {
      return await this.#pool.query(sql, params);
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  /** Create the tables (once per cluster; concurrent first starts are serialized by the lock). */
  migrate(): Promise<void> {
    return this.#tx(async (c) => {
      await c.query(SCHEMA);
    });
  }

  /** The secret every node of this cluster shares, made by the first node to ask. */
  async clusterSecret(fresh: string): Promise<string> {
    await this.#query(`INSERT INTO edgefn_cluster (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING`, [fresh]);
    const r = await this.#query(`SELECT value FROM edgefn_cluster WHERE key = 'secret'`);
    return r.rows[0].value as string;
  }

  /** Add a version and make it current; returns it, whether the function is new, and the change's seq. */
  /**
   * Record a function a node served before it joined the cluster, unless the
   * cluster already knows the name (then the cluster's wins; undefined).
   */
  adopt(d: DeployRecord): Promise<{ version: number; created: boolean; seq: number } | undefined> {
    return this.#deploy(d, true);
  }

  deploy(d: DeployRecord): Promise<{ version: number; created: boolean; seq: number }> {
    return this.#deploy(d, false) as Promise<{ version: number; created: boolean; seq: number }>;
  }

  #deploy(d: DeployRecord, onlyNew: boolean): Promise<{ version: number; created: boolean; seq: number } | undefined> {
    return this.#tx(async (c) => {
      // Writers hold the cluster's write lock (#tx), so this read stays true until COMMIT.
      const prev = await c.query('SELECT last_version, deleted, version FROM edgefn_functions WHERE name = $1', [d.name]);
      if (onlyNew && prev.rows.length > 0) return undefined;
      const version = prev.rows.length === 0 ? 1 : Number(prev.rows[0].last_version) + 1;
      const created = prev.rows.length === 0 || prev.rows[0].deleted === true;
      const previous = created ? null : Number(prev.rows[0].version);
      const percent = d.rollout?.percent ?? 100;
      if (percent < 100 && previous === null) throw new EdgefnError('ERR_INVALID_INPUT', `"percent" splits traffic between the new version and the current one, but "${d.name}" has no version yet: deploy it once without "percent"`);
      const traffic = percent < 100 && previous !== null ? JSON.stringify([{ version: previous, percent: 100 - percent }, { version, percent }]) : null;
      const sticky = traffic !== null && d.rollout?.sticky != null ? JSON.stringify(d.rollout.sticky) : null;
      // edgefn_routes holds each pattern once for the whole cluster; under the
      // write lock, a pattern another function holds is refused here.
      if (d.routes !== undefined) {
        const taken = await c.query('SELECT pattern, name FROM edgefn_routes WHERE pattern = ANY($1::text[]) AND name <> $2 ORDER BY pattern LIMIT 1', [d.routes, d.name]);
        if (taken.rows.length > 0) throw routeConflict(taken.rows[0].pattern as string, taken.rows[0].name as string);
        await c.query('DELETE FROM edgefn_routes WHERE name = $1', [d.name]);
        await c.query('INSERT INTO edgefn_routes (pattern, name) SELECT unnest($1::text[]), $2', [d.routes, d.name]);
      }
      await c.query(
        `INSERT INTO edgefn_versions (name, version, format, source, code, vars, secrets, limits, bindings, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())`,
        [d.name, version, d.format, d.source, d.code, d.vars, d.secrets, d.limits, d.bindings ?? null],
      );
      const seq = Number(
        (
          await c.query(
            `INSERT INTO edgefn_functions (name, version, last_version, deleted, regions, near, seq, created_at, updated_at, traffic, sticky, routes)
             VALUES ($1, $2, $2, false, $3, $7, nextval('edgefn_change_seq'), now(), now(), $5, $6, COALESCE($8::text[], '{}'))
             ON CONFLICT (name) DO UPDATE SET version = $2, last_version = $2, deleted = false, regions = $3, near = $7, seq = excluded.seq, updated_at = now(), previous = $4, traffic = $5, sticky = $6,
               created_at = CASE WHEN edgefn_functions.deleted THEN now() ELSE edgefn_functions.created_at END,
               routes = COALESCE($8::text[], edgefn_functions.routes)
             RETURNING seq`,
            [d.name, version, d.regions, previous, traffic, sticky, d.near, d.routes ?? null],
          )
        ).rows[0].seq,
      );
      // The previous version stays however old it is: it is where a rollback goes.
      await c.query('DELETE FROM edgefn_versions WHERE name = $1 AND version <= $2 AND version IS DISTINCT FROM $3::integer', [d.name, version - 1 - KEEP_OLD_VERSIONS, previous]);
      await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(seq)]);
      return { version, created, seq };
    });
  }

  /**
   * Point the function at a stored version (default: the one current before
   * the current one), as one change every node applies; no code is copied.
   */
  rollback(name: string, version: number | undefined): Promise<{ current: number; previous: number | null; seq: number }> {
    return this.#tx(async (c) => {
      const f = await c.query('SELECT version, previous FROM edgefn_functions WHERE name = $1 AND NOT deleted', [name]);
      if (f.rows.length === 0) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
      const current = Number(f.rows[0].version);
      const before = f.rows[0].previous === null ? null : Number(f.rows[0].previous);
      const target = version ?? before;
      if (target === null) throw new EdgefnError('ERR_INVALID_INPUT', `"${name}" has no previous version to roll back to (it is at version ${current}); name one with "version"`);
      const stored = await c.query('SELECT 1 FROM edgefn_versions WHERE name = $1 AND version = $2', [name, target]);
      if (stored.rows.length === 0) {
        const kept = await c.query('SELECT min(version) AS lo, max(version) AS hi, count(*) AS n, (SELECT last_version FROM edgefn_functions WHERE name = $1) AS last FROM edgefn_versions WHERE name = $1', [name]);
        const k = kept.rows[0] as { lo: number | null; hi: number | null; n: string; last: number | null };
        const why = k.last !== null && target <= Number(k.last) ? 'pruned (the last 100 deploys are kept)' : 'never deployed';
        throw new EdgefnError('ERR_NOT_FOUND', `"${name}" has no version ${target}: it was ${why}; stored versions: ${k.lo === null ? 'none' : Number(k.n) === 1 ? String(k.lo) : `${k.n} from ${k.lo} to ${k.hi}`}`);
      }
      const previous = target === current ? before : current;
      const seq = Number(
        (await c.query(`UPDATE edgefn_functions SET version = $2, previous = $3, traffic = NULL, sticky = NULL, seq = nextval('edgefn_change_seq'), updated_at = now() WHERE name = $1 RETURNING seq`, [name, target, previous])).rows[0].seq,
      );
      await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(seq)]);
      return { current: target, previous, seq };
    });
  }

  /**
   * Split the function's traffic between stored versions, as one change every
   * node applies. The newest version in the split becomes current; one share
   * of 100 % ends the split.
   */
  setTraffic(name: string, traffic: TrafficShare[], sticky: StickyKey | null): Promise<ClusterRouting> {
    return this.#tx(async (c) => {
      const f = await c.query('SELECT version, previous FROM edgefn_functions WHERE name = $1 AND NOT deleted', [name]);
      if (f.rows.length === 0) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
      const stored = await c.query('SELECT version FROM edgefn_versions WHERE name = $1 AND version = ANY($2::integer[])', [name, traffic.map((s) => s.version)]);
      const have = new Set(stored.rows.map((r: Record<string, unknown>) => Number(r['version'])));
      const absent = traffic.find((s) => !have.has(s.version));
      if (absent !== undefined) throw new EdgefnError('ERR_INVALID_INPUT', `"${name}" has no version ${absent.version}: it was pruned or never deployed (GET /v1/functions/${name}/versions lists what is stored)`);
      const before = Number(f.rows[0].version);
      const current = Math.max(...traffic.map((s) => s.version));
      const previous = current === before ? (f.rows[0].previous === null ? null : Number(f.rows[0].previous)) : before;
      const split = traffic.length > 1;
      const seq = Number(
        (
          await c.query(`UPDATE edgefn_functions SET version = $2, previous = $3, traffic = $4, sticky = $5, seq = nextval('edgefn_change_seq'), updated_at = now() WHERE name = $1 RETURNING seq`, [
            name,
            current,
            previous,
            split ? JSON.stringify(traffic) : null,
            split && sticky !== null ? JSON.stringify(sticky) : null,
          ])
        ).rows[0].seq,
      );
      await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(seq)]);
      return { current, previous, traffic: split ? traffic : null, sticky: split ? sticky : null, seq };
    });
  }

  /** A function's stored versions, newest first; undefined when there is no such function. */
  async versions(name: string): Promise<{ current: number; previous: number | null; traffic: TrafficShare[] | null; sticky: StickyKey | null; versions: Array<{ version: number; format: string; createdAt: string; size: number }> } | undefined> {
    const f = await this.#query('SELECT version, previous, traffic, sticky FROM edgefn_functions WHERE name = $1 AND NOT deleted', [name]);
    if (f.rows.length === 0) return undefined;
    const v = await this.#query('SELECT version, format, created_at, octet_length(source) AS size FROM edgefn_versions WHERE name = $1 ORDER BY version DESC', [name]);
    return {
      current: Number(f.rows[0].version),
      previous: f.rows[0].previous === null ? null : Number(f.rows[0].previous),
      traffic: f.rows[0].traffic === null ? null : (JSON.parse(f.rows[0].traffic as string) as TrafficShare[]),
      sticky: f.rows[0].sticky === null ? null : (JSON.parse(f.rows[0].sticky as string) as StickyKey),
      versions: v.rows.map((r: Record<string, unknown>) => ({ version: Number(r['version']), format: r['format'] as string, createdAt: (r['created_at'] as Date).toISOString(), size: Number(r['size']) })),
    };
  }

  /** Mark a function deleted (the row stays, so version numbers keep growing and every node sees the deletion). */
  delete(name: string): Promise<{ deleted: boolean; seq: number }> {
    return this.#tx(async (c) => {
      const r = await c.query(`UPDATE edgefn_functions SET deleted = true, version = 0, routes = '{}', seq = nextval('edgefn_change_seq'), updated_at = now() WHERE name = $1 AND NOT deleted RETURNING seq`, [name]);
      if (r.rows.length === 0) return { deleted: false, seq: 0 };
      await c.query('DELETE FROM edgefn_versions WHERE name = $1', [name]);
      await c.query('DELETE FROM edgefn_routes WHERE name = $1', [name]);
      const seq = Number(r.rows[0].seq);
      await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(seq)]);
      return { deleted: true, seq };
    });
  }

  /** Changes after `seq`, oldest first, at most CHANGE_BATCH; code only for what `region` serves. */
  async changesSince(seq: number, region: string): Promise<FunctionChange[]> {
    const r = await this.#query(
      `SELECT f.name, f.seq, f.version, f.deleted, f.regions, f.near, f.routes, f.created_at, f.updated_at, f.traffic, f.sticky,
              v.format, v.vars, v.secrets, v.limits, v.bindings,
              CASE WHEN f.regions IS NULL OR $2 = ANY(f.regions) THEN v.source END AS source,
              CASE WHEN f.regions IS NULL OR $2 = ANY(f.regions) THEN v.code END AS code
         FROM edgefn_functions f
         LEFT JOIN edgefn_versions v ON v.name = f.name AND v.version = f.version
        WHERE f.seq > $1 ORDER BY f.seq LIMIT ${CHANGE_BATCH}`,
      [seq, region],
    );
    // A split's other versions, for the functions this region serves: one more query per batch.
    const extraNames: string[] = [];
    const extraVersions: number[] = [];
    for (const row of r.rows as Array<Record<string, unknown>>) {
      if (row['traffic'] === null || row['code'] === null || row['code'] === undefined) continue;
      for (const s of JSON.parse(row['traffic'] as string) as TrafficShare[]) {
        if (s.version === Number(row['version'])) continue;
        extraNames.push(row['name'] as string);
        extraVersions.push(s.version);
      }
    }
    const extras = new Map<string, Array<{ version: number; payload: VersionPayload }>>();
    if (extraNames.length > 0) {
      const x = await this.#query(
        `SELECT v.name, v.version, v.format, v.source, v.code, v.vars, v.secrets, v.limits FROM edgefn_versions v
           JOIN unnest($1::text[], $2::integer[]) AS want(name, version) ON want.name = v.name AND want.version = v.version`,
        [extraNames, extraVersions],
      );
      for (const row of x.rows as Array<Record<string, unknown>>) {
        const list = extras.get(row['name'] as string) ?? [];
        list.push({ version: Number(row['version']), payload: { format: row['format'] as string, source: row['source'] as string, code: row['code'] as string, vars: row['vars'] as string, secrets: row['secrets'] as string, limits: row['limits'] as string } });
        extras.set(row['name'] as string, list);
      }
    }
    return r.rows.map((row: Record<string, unknown>): FunctionChange => {
      const hasCode = row['code'] !== null && row['code'] !== undefined;
      return {
        name: row['name'] as string,
        seq: Number(row['seq']),
        version: Number(row['version']),
        deleted: row['deleted'] as boolean,
        regions: (row['regions'] as string[] | null) ?? null,
        near: (row['near'] as string | null) ?? null,
        routes: row['deleted'] === true ? [] : ((row['routes'] as string[] | null) ?? []),
        createdAt: (row['created_at'] as Date).toISOString(),
        updatedAt: (row['updated_at'] as Date).toISOString(),
        format: (row['format'] as string | null) ?? null,
        vars: (row['vars'] as string | null) ?? null,
        secretNames: row['secrets'] == null ? [] : Object.keys(JSON.parse(row['secrets'] as string) as object),
        limits: (row['limits'] as string | null) ?? null,
        payload: hasCode
          ? { format: row['format'] as string, source: row['source'] as string, code: row['code'] as string, vars: row['vars'] as string, secrets: row['secrets'] as string, limits: row['limits'] as string, bindings: (row['bindings'] as string | null) ?? null }
          : undefined,
        traffic: row['traffic'] == null ? null : (JSON.parse(row['traffic'] as string) as TrafficShare[]),
        sticky: row['sticky'] == null ? null : (JSON.parse(row['sticky'] as string) as StickyKey),
        alongside: extras.get(row['name'] as string) ?? [],
      };
    });
  }

  /**
   * Claim one scheduled time of one function's cron for `nodeId`: true when
   * this insert made the row (run it), false when another node's did.
   */
  async claimCron(name: string, cron: string, scheduledTime: number, nodeId: string): Promise<boolean> {
    const r = await this.#query(
      `INSERT INTO edgefn_cron_runs (name, cron, scheduled_time, node_id, claimed_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING RETURNING node_id`,
      [name, cron, scheduledTime, nodeId],
    );
    return r.rows.length === 1;
  }

  /**
   * Write one KV key (`write`) or delete it (null); resolves with the
   * change's seq. Writes hold their own lock, so seq order is commit order
   * and a copy that has applied up to seq N has missed nothing below it.
   */
  kvWrite(namespace: string, key: string, write: KvWrite | null): Promise<number> {
    return this.#tx(async (c) => {
      const r = await c.query(
        `INSERT INTO edgefn_kv (namespace, key, value, metadata, expiration, deleted, seq) VALUES ($1, $2, $3, $4, $5, $6, nextval('edgefn_kv_seq'))
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata, expiration = excluded.expiration, deleted = excluded.deleted, seq = excluded.seq
         RETURNING seq`,
        [namespace, key, write === null ? Buffer.alloc(0) : Buffer.from(write.value.buffer, write.value.byteOffset, write.value.byteLength), write?.metadata ?? null, write?.expiration ?? null, write === null],
      );
      const seq = Number(r.rows[0].seq);
      await c.query('SELECT pg_notify($1, $2)', [KV_CHANNEL, String(seq)]);
      return seq;
    }, KV_LOCK);
  }

  /** KV changes after `seq`, oldest first, at most `limit`. */
  async kvChangesSince(seq: number, limit: number): Promise<KvChange[]> {
    const r = await this.#query(`SELECT namespace, key, value, metadata, expiration, deleted, seq FROM edgefn_kv WHERE seq > $1 ORDER BY seq LIMIT ${Math.floor(limit)}`, [seq]);
    return r.rows.map((row: Record<string, unknown>): KvChange => ({
      namespace: row['namespace'] as string,
      key: row['key'] as string,
      seq: Number(row['seq']),
      write: row['deleted'] === true ? null : { value: new Uint8Array(row['value'] as Buffer), metadata: (row['metadata'] as string | null) ?? null, expiration: row['expiration'] == null ? null : Number(row['expiration']) },
    }));
  }

  async heartbeat(n: { id: string; region: string; advertiseUrl: string; apiUrl: string }): Promise<void> {
    await this.#query(
      `INSERT INTO edgefn_nodes (id, region, advertise_url, api_url, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, now(), now())
       ON CONFLICT (id) DO UPDATE SET region = $2, advertise_url = $3, api_url = $4, heartbeat_at = now()`,
      [n.id, n.region, n.advertiseUrl, n.apiUrl],
    );
  }

  async nodes(): Promise<NodeRow[]> {
    const r = await this.#query(`SELECT id, region, advertise_url, api_url, extract(epoch FROM now() - heartbeat_at) * 1000 AS age FROM edgefn_nodes ORDER BY region, id`);
    return r.rows.map((row: Record<string, unknown>) => ({
      id: row['id'] as string,
      region: row['region'] as string,
      advertiseUrl: row['advertise_url'] as string,
      apiUrl: row['api_url'] as string,
      heartbeatAgeMs: Math.round(Number(row['age'])),
    }));
  }

  /** Record this node's latest latencies to placement.near backends (one statement for all). */
  async reportNear(nodeId: string, region: string, rows: Array<{ target: string; rttMs: number | null }>): Promise<void> {
    if (rows.length === 0) return;
    await this.#query(
      `INSERT INTO edgefn_near_rtt (target, node_id, region, rtt_ms, updated_at)
       SELECT t, $1, $2, r, now() FROM unnest($3::text[], $4::double precision[]) AS x(t, r)
       ON CONFLICT (target, node_id) DO UPDATE SET region = $2, rtt_ms = excluded.rtt_ms, updated_at = now()`,
      [nodeId, region, rows.map((r) => r.target), rows.map((r) => r.rttMs)],
    );
  }

  /** Every node's recent latencies to placement.near backends. */
  async nearRtts(): Promise<NearRtt[]> {
    const r = await this.#query(`SELECT target, node_id, region, rtt_ms FROM edgefn_near_rtt WHERE updated_at > now() - make_interval(secs => $1)`, [NEAR_RTT_MAX_AGE_S]);
    return r.rows.map((row: Record<string, unknown>) => ({ target: row['target'] as string, nodeId: row['node_id'] as string, region: row['region'] as string, rttMs: row['rtt_ms'] === null ? null : Number(row['rtt_ms']) }));
  }

  /** A dedicated connection for LISTEN (a pooled one would be handed to other queries). */
  async listen(onChange: (seq: number) => void, onLost: (err: Error) => void, channel = CHANGES_CHANNEL): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true });
    client.on('notification', (m) => {
      if (m.channel === channel) onChange(Number(m.payload));
    });
    let lost = false;
    const fail = (err: Error) => {
      if (lost) return;
      lost = true;
      client.end().catch(() => {});
      onLost(err);
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (err) {
      lost = true;
      await client.end().catch(() => {});
      throw storeUnavailable(err);
    }
    return client;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end().catch(() => {});
  }
}
