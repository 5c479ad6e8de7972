// KV namespaces on one node, in their own SQLite file (node:sqlite, WAL).
//
// Who writes: every isolate host opens this file read-write and serves its
// workers' get/put/delete/list itself; the front door opens it too, for the
// control API's /v1/kv routes. SQLite in WAL mode lets several processes
// share one file: readers never wait, and writers take the one write lock in
// turn (busy_timeout waits for it). Each write here is one short statement
// (a put of a 25 MiB value is the longest), so the wait is bounded by a few
// other writes. The alternative, asking the front door over IPC for every
// operation, would add a process hop to every read and put a single event
// loop in front of all of them, for no gain in consistency: SQLite already
// serializes the writes, and a read after a write on the same node sees it
// (read-your-write), in any process. The file is separate from edgefn.db so
// that a busy KV never holds the lock a deploy needs.
//
// Semantics and limits are Workers KV's: keys of 1 to 512 bytes, values up to
// 25 MiB, metadata up to 1024 bytes of JSON, expirations at least 60 s ahead
// (in whole seconds since the epoch), keys listed in UTF-8 byte order at most
// 1000 at a time with an opaque cursor. Expired keys are invisible to every
// read at once and their rows are purged in the background.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KV_LIMITS, KV_NAMESPACE_PATTERN, type KvKeyInfo, type KvListResult } from '../sdk/wire.ts';

/** A KV operation refused for its input; `message` names what is wrong. The host op turns it into a TypeError for the worker. */
export class KvInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvInputError';
  }
}

export interface KvStoreOptions {
  /** The SQLite file. */
  path: string;
  /** Current time in ms since the epoch; injected by tests that check expiry. Default Date.now. */
  now?: () => number;
}

export interface KvValue {
  value: Uint8Array;
  /** The parsed metadata, or null. */
  metadata: unknown;
  /** Seconds since the epoch, or undefined for a key that does not expire. */
  expiration: number | undefined;
}

export interface KvPutOptions {
  /** Seconds from now; at least 60. */
  expirationTtl?: number | undefined;
  /** Seconds since the epoch; at least 60 s from now. */
  expiration?: number | undefined;
  /** Any JSON-serializable value, at most 1024 bytes serialized. */
  metadata?: unknown;
}

export interface KvListOptions {
  prefix?: string | undefined;
  /** 1 to 1000; default 1000. */
  limit?: number | undefined;
  cursor?: string | undefined;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  metadata TEXT,
  expiration INTEGER,
  -- In a cluster: the change's number in PostgreSQL (router/cluster/cluster-kv.ts),
  -- so that a change is applied only over older ones, and deletions stay as
  -- tombstones (deleted = 1) until nothing older can arrive. 0 on a standalone node.
  seq INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS kv_expiration ON kv (expiration) WHERE expiration IS NOT NULL;
CREATE TABLE IF NOT EXISTS kv_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** A put checked against the limits, ready to store (here or in PostgreSQL). */
export interface KvWrite {
  value: Uint8Array;
  /** JSON text, or null. */
  metadata: string | null;
  /** Seconds since the epoch, or null. */
  expiration: number | null;
}

/** One change as PostgreSQL numbers it: a put (write) or a deletion (null). */
export interface KvChange {
  namespace: string;
  key: string;
  seq: number;
  write: KvWrite | null;
}

/** Writes between purges of expired rows. */
const PURGE_EVERY_WRITES = 1000;

export function checkNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || !KV_NAMESPACE_PATTERN.test(namespace)) {
    throw new KvInputError(`KV namespace ${JSON.stringify(namespace)} is not valid: use 1 to 64 characters of A-Z, a-z, 0-9, _ and -`);
  }
  return namespace;
}

export function checkKey(key: unknown): string {
  if (typeof key !== 'string') throw new KvInputError(`a KV key must be a string, got ${typeof key}`);
  const bytes = Buffer.byteLength(key);
  if (bytes === 0) throw new KvInputError('a KV key must not be empty');
  if (key === '.' || key === '..') throw new KvInputError(`"${key}" is not allowed as a KV key`);
  if (bytes > KV_LIMITS.keyBytes) throw new KvInputError(`the KV key is ${bytes} bytes (UTF-8); the limit is ${KV_LIMITS.keyBytes}`);
  return key;
}

function encodeCursor(key: string): string {
  return Buffer.from(key).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString();
  if (cursor === '' || encodeCursor(key) !== cursor) throw new KvInputError(`the list cursor ${JSON.stringify(cursor.slice(0, 80))} is not one this namespace returned`);
  return key;
}

/** The smallest string greater than every string starting with `prefix` in byte order, or undefined if there is none. */
function prefixEnd(prefix: string): string | undefined {
  const cps = [...prefix];
  while (cps.length > 0) {
    const last = cps.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Surrogates are not valid code points on their own; step over them.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return cps.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

export class KvStore {
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #stmts: Record<string, StatementSync>;
  #writes = 0;
  #closed = false;

  constructor(options: KvStoreOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    this.#now = options.now ?? Date.now;
    this.#db = new DatabaseSync(options.path);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.#db.exec(SCHEMA);
    const live = 'deleted = 0 AND (expiration IS NULL OR expiration > ?)';
    this.#stmts = {
      get: this.#db.prepare(`SELECT value, metadata, expiration FROM kv WHERE namespace = ? AND key = ? AND ${live}`),
      put: this.#db.prepare(`INSERT OR REPLACE INTO kv (namespace, key, value, metadata, expiration) VALUES (?, ?, ?, ?, ?)`),
      delete: this.#db.prepare(`DELETE FROM kv WHERE namespace = ? AND key = ?`),
      list: this.#db.prepare(`SELECT key, metadata, expiration FROM kv WHERE namespace = ? AND key > ? AND key >= ? AND (? IS NULL OR key < ?) AND ${live} ORDER BY key LIMIT ?`),
      purge: this.#db.prepare(`DELETE FROM kv WHERE expiration IS NOT NULL AND expiration <= ?`),
      apply: this.#db.prepare(
        `INSERT INTO kv (namespace, key, value, metadata, expiration, seq, deleted) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata, expiration = excluded.expiration, seq = excluded.seq, deleted = excluded.deleted
         WHERE excluded.seq > kv.seq`,
      ),
      getState: this.#db.prepare('SELECT value FROM kv_state WHERE key = ?'),
      setState: this.#db.prepare('INSERT OR REPLACE INTO kv_state (key, value) VALUES (?, ?)'),
    };
  }

  #nowSeconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  get(namespace: string, key: string): KvValue | undefined {
    this.#check();
    const row = this.#stmts['get']!.get(checkNamespace(namespace), checkKey(key), this.#nowSeconds()) as Record<string, unknown> | undefined;
    if (row === undefined) return undefined;
    return {
      value: row['value'] as Uint8Array,
      metadata: row['metadata'] == null ? null : JSON.parse(row['metadata'] as string),
      expiration: row['expiration'] == null ? undefined : Number(row['expiration']),
    };
  }

  put(namespace: string, key: string, value: Uint8Array, options: KvPutOptions = {}): void {
    this.#check();
    const w = this.checkPut(namespace, key, value, options);
    this.#stmts['put']!.run(namespace, key, w.value, w.metadata, w.expiration);
    this.#wrote();
  }

  /** A put's arguments checked against Workers' limits (KvInputError otherwise), ready to store. */
  checkPut(namespace: string, key: string, value: Uint8Array, options: KvPutOptions = {}): KvWrite {
    checkNamespace(namespace);
    checkKey(key);
    if (!(value instanceof Uint8Array)) throw new KvInputError('a KV value must be bytes');
    if (value.byteLength > KV_LIMITS.valueBytes) throw new KvInputError(`the KV value is ${value.byteLength} bytes; the limit is ${KV_LIMITS.valueBytes} (25 MiB)`);
    const now = this.#nowSeconds();
    let expiration: number | null = null;
    if (options.expiration !== undefined) {
      const e = options.expiration;
      if (typeof e !== 'number' || !Number.isFinite(e)) throw new KvInputError(`"expiration" must be a number of seconds since the epoch, got ${JSON.stringify(e)}`);
      if (e < now + KV_LIMITS.minTtlSeconds) throw new KvInputError(`"expiration" ${e} is less than ${KV_LIMITS.minTtlSeconds} seconds in the future (now is ${now}); the minimum is ${KV_LIMITS.minTtlSeconds}`);
      expiration = Math.floor(e);
    }
    if (options.expirationTtl !== undefined) {
      const t = options.expirationTtl;
      if (typeof t !== 'number' || !Number.isFinite(t)) throw new KvInputError(`"expirationTtl" must be a number of seconds, got ${JSON.stringify(t)}`);
      if (t < KV_LIMITS.minTtlSeconds) throw new KvInputError(`"expirationTtl" is ${t} seconds; the minimum is ${KV_LIMITS.minTtlSeconds}`);
      // Both given: the earlier one wins, as either alone would have expired it by then.
      const fromTtl = now + Math.floor(t);
      expiration = expiration === null ? fromTtl : Math.min(expiration, fromTtl);
    }
    let metadata: string | null = null;
    if (options.metadata !== undefined && options.metadata !== null) {
      let json: string | undefined;
      try {
        json = JSON.stringify(options.metadata);
      } catch (err) {
        throw new KvInputError(`"metadata" must be serializable as JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (json === undefined) throw new KvInputError('"metadata" must be serializable as JSON');
      const bytes = Buffer.byteLength(json);
      if (bytes > KV_LIMITS.metadataBytes) throw new KvInputError(`"metadata" is ${bytes} bytes serialized; the limit is ${KV_LIMITS.metadataBytes}`);
      metadata = json;
    }
    return { value, metadata, expiration };
  }

  /** Apply changes numbered by PostgreSQL, each only over an older state of its key (a cluster node's copy). */
  applyChanges(changes: KvChange[]): void {
    this.#check();
    if (changes.length === 0) return;
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const c of changes) {
        const w = c.write;
        this.#stmts['apply']!.run(c.namespace, c.key, w?.value ?? new Uint8Array(), w?.metadata ?? null, w?.expiration ?? null, c.seq, w === null ? 1 : 0);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    this.#wrote();
  }

  /** A value kept beside the data (a cluster node's last applied change). */
  state(key: string): string | undefined {
    this.#check();
    return (this.#stmts['getState']!.get(key) as { value: string } | undefined)?.value;
  }

  setState(key: string, value: string): void {
    this.#check();
    this.#stmts['setState']!.run(key, value);
  }

  delete(namespace: string, key: string): void {
    this.#check();
    this.#stmts['delete']!.run(checkNamespace(namespace), checkKey(key));
    this.#wrote();
  }

  list(namespace: string, options: KvListOptions = {}): KvListResult {
    this.#check();
    checkNamespace(namespace);
    const limit = options.limit ?? KV_LIMITS.listMax;
    if (!Number.isInteger(limit) || limit < 1 || limit > KV_LIMITS.listMax) throw new KvInputError(`"limit" must be an integer from 1 to ${KV_LIMITS.listMax}, got ${JSON.stringify(limit)}`);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new KvInputError('"prefix" must be a string');
    const after = options.cursor === undefined || options.cursor === '' ? '' : decodeCursor(options.cursor);
    const end = prefix === '' ? null : (prefixEnd(prefix) ?? null);
    // One more than asked, to know whether the list is complete.
    const rows = this.#stmts['list']!.all(namespace, after, prefix, end, end, this.#nowSeconds(), limit + 1) as Array<Record<string, unknown>>;
    const page = rows.slice(0, limit);
    const keys: KvKeyInfo[] = page.map((r) => {
      const k: KvKeyInfo = { name: r['key'] as string };
      if (r['expiration'] != null) k.expiration = Number(r['expiration']);
      if (r['metadata'] != null) k.metadata = JSON.parse(r['metadata'] as string);
      return k;
    });
    const complete = rows.length <= limit;
    return complete ? { keys, list_complete: true } : { keys, list_complete: false, cursor: encodeCursor(page[page.length - 1]!.key as string) };
  }

  /** Drop the rows of expired keys (reads already skip them). */
  purgeExpired(): number {
    this.#check();
    return Number(this.#stmts['purge']!.run(this.#nowSeconds()).changes);
  }

  #wrote(): void {
    if (++this.#writes % PURGE_EVERY_WRITES === 0) this.purgeExpired();
  }

  #check(): void {
    if (this.#closed) throw new Error('the KV store is closed');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
