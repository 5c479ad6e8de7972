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
import type { KvChange, KvWrite } from '../kv-store.ts';

export const CHANGES_CHANNEL = 'edgefn_changes';
/** NOTIFY channel of KV writes (payload: the change's seq). */
export const KV_CHANNEL = 'edgefn_kv';
/** Key of the advisory lock every KV write holds: KV changes are numbered in commit order, apart from deploys. */
const KV_LOCK = 0x65646b76; // "edkv"
/** Key of the one advisory lock every write transaction holds. */
const WRITE_LOCK = 0x65646766; // "edgf"
/** Old versions kept per function, as the local store does. */
const KEEP_OLD_VERSIONS = 2;
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
  /** JSON { crons, kv } (store.ts VersionBindings); null or absent for none. */
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
  createdAt: string;
  updatedAt: string;
  /** Format, vars (JSON), secret names and limits (JSON): what the API shows, for every function. */
  format: string | null;
  vars: string | null;
  secretNames: string[];
  limits: string | null;
  /** The code, only for functions placed in the reader's region. */
  payload: VersionPayload | undefined;
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
}

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
  deploy(d: DeployRecord): Promise<{ version: number; created: boolean; seq: number }> {
    return this.#tx(async (c) => {
      const prev = await c.query('SELECT last_version, deleted FROM edgefn_functions WHERE name = $1', [d.name]);
      const version = prev.rows.length === 0 ? 1 : Number(prev.rows[0].last_version) + 1;
      const created = prev.rows.length === 0 || prev.rows[0].deleted === true;
      await c.query(
        `INSERT INTO edgefn_versions (name, version, format, source, code, vars, secrets, limits, bindings, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())`,
        [d.name, version, d.format, d.source, d.code, d.vars, d.secrets, d.limits, d.bindings ?? null],
      );
      const seq = Number(
        (
          await c.query(
            `INSERT INTO edgefn_functions (name, version, last_version, deleted, regions, seq, created_at, updated_at)
             VALUES ($1, $2, $2, false, $3, nextval('edgefn_change_seq'), now(), now())
             ON CONFLICT (name) DO UPDATE SET version = $2, last_version = $2, deleted = false, regions = $3, seq = excluded.seq, updated_at = now(),
               created_at = CASE WHEN edgefn_functions.deleted THEN now() ELSE edgefn_functions.created_at END
             RETURNING seq`,
            [d.name, version, d.regions],
          )
        ).rows[0].seq,
      );
      await c.query('DELETE FROM edgefn_versions WHERE name = $1 AND version <= $2', [d.name, version - 1 - KEEP_OLD_VERSIONS]);
      await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(seq)]);
      return { version, created, seq };
    });
  }

  /** Mark a function deleted (the row stays, so version numbers keep growing and every node sees the deletion). */
  delete(name: string): Promise<{ deleted: boolean; seq: number }> {
    return this.#tx(async (c) => {
      const r = await c.query(`UPDATE edgefn_functions SET deleted = true, version = 0, seq = nextval('edgefn_change_seq'), updated_at = now() WHERE name = $1 AND NOT deleted RETURNING seq`, [name]);
      if (r.rows.length === 0) return { deleted: false, seq: 0 };
      await c.query('DELETE FROM edgefn_versions WHERE name = $1', [name]);
      const seq = Number(r.rows[0].seq);
      await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(seq)]);
      return { deleted: true, seq };
    });
  }

  /** Changes after `seq`, oldest first, at most CHANGE_BATCH; code only for what `region` serves. */
  async changesSince(seq: number, region: string): Promise<FunctionChange[]> {
    const r = await this.#query(
      `SELECT f.name, f.seq, f.version, f.deleted, f.regions, f.created_at, f.updated_at,
              v.format, v.vars, v.secrets, v.limits, v.bindings,
              CASE WHEN f.regions IS NULL OR $2 = ANY(f.regions) THEN v.source END AS source,
              CASE WHEN f.regions IS NULL OR $2 = ANY(f.regions) THEN v.code END AS code
         FROM edgefn_functions f
         LEFT JOIN edgefn_versions v ON v.name = f.name AND v.version = f.version
        WHERE f.seq > $1 ORDER BY f.seq LIMIT ${CHANGE_BATCH}`,
      [seq, region],
    );
    return r.rows.map((row: Record<string, unknown>): FunctionChange => {
      const hasCode = row['code'] !== null && row['code'] !== undefined;
      return {
        name: row['name'] as string,
        seq: Number(row['seq']),
        version: Number(row['version']),
        deleted: row['deleted'] as boolean,
        regions: (row['regions'] as string[] | null) ?? null,
        createdAt: (row['created_at'] as Date).toISOString(),
        updatedAt: (row['updated_at'] as Date).toISOString(),
        format: (row['format'] as string | null) ?? null,
        vars: (row['vars'] as string | null) ?? null,
        secretNames: row['secrets'] == null ? [] : Object.keys(JSON.parse(row['secrets'] as string) as object),
        limits: (row['limits'] as string | null) ?? null,
        payload: hasCode
          ? { format: row['format'] as string, source: row['source'] as string, code: row['code'] as string, vars: row['vars'] as string, secrets: row['secrets'] as string, limits: row['limits'] as string, bindings: (row['bindings'] as string | null) ?? null }
          : undefined,
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
