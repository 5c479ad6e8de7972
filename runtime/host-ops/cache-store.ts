// The Cache API's storage on a node: one SQLite file (node:sqlite) in the
// node's data directory, written directly by every isolate-host process.
//
// Why the hosts write it themselves instead of asking the front door over IPC:
// a cached body can be tens of MB, and going through the front door would copy
// every byte through one more process and one more serialisation, and make the
// front door's event loop the bottleneck of every cache hit. SQLite in WAL mode
// already gives what several writers on one machine need: one writer at a time
// (busy_timeout makes the others wait, a few ms at most, since every write
// transaction here is one chunk of at most CHUNK_BYTES), readers that never
// block, and a file that survives a restart. The front door only opens the
// file at start-up, before any host runs, to drop what a crash left half-written
// (CacheStore.recover).
//
// Layout: an entry is one row of metadata (status, headers, expiry, the
// request headers its Vary names) and its body as rows of CHUNK_BYTES, so a
// body is streamed in and out a chunk at a time and never held whole. A put
// writes its chunks under an entry that is not yet `complete` (invisible to
// match) and swaps it in with one transaction at the end. Total bytes are kept
// in one row (`usage`), updated in the same transactions, and bounded: past
// the bound, expired entries go first, then the least recently used.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Body bytes per stored chunk (and per read from the isolate's side). */
export const CHUNK_BYTES = 256 * 1024;

export interface CacheStoreOptions {
  /** Total bytes the cache may hold (bodies plus metadata). */
  maxBytes: number;
  /** Largest body one entry may have, in bytes; a bigger put is refused. */
  maxEntryBytes: number;
  /** Milliseconds since the epoch; injected by tests. Default Date.now. */
  now?: () => number;
}

export interface StoredEntry {
  id: number;
  status: number;
  statusText: string;
  /** Flat [name, value, …] as stored. */
  headers: string[];
  /** Bytes counted against maxBytes: the body plus the metadata. */
  size: number;
  chunks: number;
}

export interface NewEntry {
  ns: string;
  url: string;
  /** Lowercased, sorted request-header names of the response's Vary. */
  vary: string[];
  /** The storing request's values of those headers (null when absent). */
  variant: (string | null)[];
  status: number;
  statusText: string;
  headers: string[];
  expires: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ns TEXT NOT NULL,
  url TEXT NOT NULL,
  vary TEXT NOT NULL,
  variant TEXT NOT NULL,
  status INTEGER NOT NULL,
  status_text TEXT NOT NULL,
  headers TEXT NOT NULL,
  expires INTEGER NOT NULL,
  size INTEGER NOT NULL,
  chunks INTEGER NOT NULL DEFAULT 0,
  used INTEGER NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_key ON entries (ns, url) WHERE complete = 1;
CREATE INDEX IF NOT EXISTS entries_lru ON entries (used) WHERE complete = 1;
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires) WHERE complete = 1;
CREATE TABLE IF NOT EXISTS chunks (entry INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (entry, seq));
CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (id, bytes) VALUES (1, 0);
`;

/** Bytes an entry's metadata is counted as, besides its body. */
function metaBytes(e: NewEntry): number {
  let n = 256 + e.ns.length + e.url.length;
  for (const h of e.headers) n += h.length;
  for (const v of e.variant) n += v?.length ?? 0;
  return n;
}

/** A LRU touch is written at most this often per entry: a hit is normally a read only. */
const TOUCH_EVERY_MS = 1000;

function open(path: string): DatabaseSync {
  mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  // NORMAL, not FULL: a cache may lose its last writes on power loss; it must
  // only never be corrupt, which WAL guarantees either way.
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;');
  db.exec(SCHEMA);
  return db;
}

export class CacheStore {
  readonly path: string;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #q: Record<string, StatementSync>;
  #closed = false;

  constructor(path: string, options: CacheStoreOptions) {
    for (const k of ['maxBytes', 'maxEntryBytes'] as const) {
      const v = options[k];
      if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`cache ${k} must be a positive integer of bytes, got ${String(v)}`);
    }
    this.path = path;
    this.maxBytes = options.maxBytes;
    this.maxEntryBytes = Math.min(options.maxEntryBytes, options.maxBytes);
    this.#now = options.now ?? Date.now;
    this.#db = open(path);
    const p = (sql: string): StatementSync => this.#db.prepare(sql);
    this.#q = {
      lookup: p('SELECT id, vary, variant, status, status_text, headers, expires, size, chunks, used FROM entries WHERE ns = ? AND url = ? AND complete = 1 ORDER BY id DESC'),
      touch: p('UPDATE entries SET used = ? WHERE id = ?'),
      chunk: p('SELECT data FROM chunks WHERE entry = ? AND seq = ?'),
      insert: p('INSERT INTO entries (ns, url, vary, variant, status, status_text, headers, expires, size, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      addChunk: p('INSERT INTO chunks (entry, seq, data) VALUES (?, ?, ?)'),
      grow: p('UPDATE entries SET size = size + ?, chunks = chunks + 1 WHERE id = ? AND complete = 0'),
      entrySize: p('SELECT size, ns, url, vary, variant FROM entries WHERE id = ?'),
      usage: p('SELECT bytes FROM usage WHERE id = 1'),
      addUsage: p('UPDATE usage SET bytes = bytes + ? WHERE id = 1'),
      setUsage: p('UPDATE usage SET bytes = ? WHERE id = 1'),
      siblings: p('SELECT id, vary, variant, expires FROM entries WHERE ns = ? AND url = ? AND complete = 1'),
      complete: p('UPDATE entries SET complete = 1, used = ? WHERE id = ?'),
      dropChunks: p('DELETE FROM chunks WHERE entry = ?'),
      dropEntry: p('DELETE FROM entries WHERE id = ? RETURNING size'),
      expired: p('SELECT id FROM entries WHERE complete = 1 AND expires <= ? ORDER BY expires LIMIT 32'),
      lru: p('SELECT id FROM entries WHERE complete = 1 ORDER BY used LIMIT 32'),
    };
  }

  /**
   * Drop entries a crashed put left incomplete and recount the bytes held.
   * Only safe while no host writes: the front door calls it before starting any.
   */
  recover(): void {
    this.#tx(() => {
      for (const row of this.#db.prepare('SELECT id FROM entries WHERE complete = 0').all()) this.#drop(Number(row['id']));
      const total = this.#db.prepare('SELECT COALESCE(SUM(size), 0) AS n FROM entries').get();
      this.#q['setUsage']!.run(Number(total?.['n'] ?? 0));
      this.#evict();
    });
  }

  /**
   * Drop unfinished puts begun more than `ageMs` ago: those of a host that
   * died mid-put (a live put cannot be older than the longest wall limit).
   * Safe while other hosts write, unlike recover().
   */
  dropStale(ageMs: number): void {
    const before = this.#now() - ageMs;
    this.#tx(() => {
      for (const row of this.#db.prepare('SELECT id FROM entries WHERE complete = 0 AND used < ?').all(before)) this.#drop(Number(row['id']));
    });
  }

  /** Bytes held now (bodies plus metadata, incomplete puts included). */
  usage(): number {
    return Number(this.#q['usage']!.get()?.['bytes'] ?? 0);
  }

  /**
   * The live entry of `ns`/`url` whose Vary'd request headers equal the
   * asker's (`header(name)` returns the asker's value of a header, or null).
   */
  lookup(ns: string, url: string, header: (name: string) => string | null): StoredEntry | undefined {
    const now = this.#now();
    for (const row of this.#q['lookup']!.all(ns, url)) {
      if (Number(row['expires']) <= now) continue;
      const vary = JSON.parse(row['vary'] as string) as string[];
      const variant = JSON.parse(row['variant'] as string) as (string | null)[];
      if (!vary.every((name, i) => header(name) === variant[i])) continue;
      const id = Number(row['id']);
      if (now - Number(row['used']) >= TOUCH_EVERY_MS) this.#q['touch']!.run(now, id);
      return {
        id,
        status: Number(row['status']),
        statusText: row['status_text'] as string,
        headers: JSON.parse(row['headers'] as string) as string[],
        size: Number(row['size']),
        chunks: Number(row['chunks']),
      };
    }
    return undefined;
  }

  /** Chunk `seq` of entry `id`, or undefined if the entry is gone. */
  chunk(id: number, seq: number): Uint8Array | undefined {
    const row = this.#q['chunk']!.get(id, seq);
    return row === undefined ? undefined : (row['data'] as Uint8Array);
  }

  /**
   * A read-only connection with a read transaction open, for streaming a body
   * of several chunks: WAL gives it a snapshot, so the body reads whole even if
   * another host replaces, deletes or evicts the entry meanwhile. Undefined when
   * the entry is already gone. Measured (median of 300, loaded 2-core machine):
   * opening one 0.1-0.3 ms, its first 256 KB chunk 1.2-1.9 ms (a new
   * connection's page cache is empty), later chunks 0.2 ms; a lookup 0.01-0.02
   * ms. Bodies of one chunk skip it (cache.ts).
   */
  snapshotReader(id: number): CacheBodyReader | undefined {
    const db = new DatabaseSync(this.path, { readOnly: true });
    try {
      db.exec('PRAGMA busy_timeout = 10000; BEGIN');
      const exists = db.prepare('SELECT chunks FROM entries WHERE id = ? AND complete = 1').get(id);
      if (exists === undefined) {
        db.close();
        return undefined;
      }
      return new CacheBodyReader(db, id, Number(exists['chunks']));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Start storing an entry; returns its id. Its chunks follow, then `commit`. */
  begin(e: NewEntry): number {
    return this.#tx(() => {
      const meta = metaBytes(e);
      const r = this.#q['insert']!.run(e.ns, e.url, JSON.stringify(e.vary), JSON.stringify(e.variant), e.status, e.statusText, JSON.stringify(e.headers), e.expires, meta, this.#now());
      this.#q['addUsage']!.run(meta);
      this.#evict();
      return Number(r.lastInsertRowid);
    });
  }

  /** Append chunk `seq` of a body being stored (the caller keeps the body under maxEntryBytes). */
  append(id: number, seq: number, data: Uint8Array): void {
    this.#tx(() => {
      // Rolled back if the put is gone (dropped as stale): no chunk without its entry.
      if (Number(this.#q['grow']!.run(data.byteLength, id).changes) === 0) throw new TypeError('cache.put: this put was dropped before it finished');
      this.#q['addChunk']!.run(id, seq, data);
      this.#q['addUsage']!.run(data.byteLength);
      this.#evict();
    });
  }

  /**
   * Make entry `id` visible: it replaces the entry of the same URL and
   * variant, and every variant stored under a different Vary (the latest
   * response's Vary is the one that holds).
   */
  commit(id: number): void {
    this.#tx(() => {
      const me = this.#q['entrySize']!.get(id);
      if (me === undefined) return;
      for (const s of this.#q['siblings']!.all(me['ns'] as string, me['url'] as string)) {
        if (s['vary'] !== me['vary'] || s['variant'] === me['variant']) this.#drop(Number(s['id']));
      }
      this.#q['complete']!.run(this.#now(), id);
      this.#evict();
    });
  }

  /** Forget an unfinished put. */
  abort(id: number): void {
    this.#tx(() => this.#drop(id));
  }

  /** Delete every variant of `ns`/`url`; true if a live one was there. */
  delete(ns: string, url: string): boolean {
    const now = this.#now();
    return this.#tx(() => {
      let live = false;
      for (const s of this.#q['siblings']!.all(ns, url)) {
        if (Number(s['expires']) > now) live = true;
        this.#drop(Number(s['id']));
      }
      return live;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #drop(id: number): void {
    this.#q['dropChunks']!.run(id);
    const row = this.#q['dropEntry']!.get(id);
    if (row !== undefined) this.#q['addUsage']!.run(-Number(row['size']));
  }

  /** Inside a transaction: bring the bytes held under maxBytes, expired entries first, then least recently used. */
  #evict(): void {
    const now = this.#now();
    for (const q of ['expired', 'lru'] as const) {
      while (this.usage() > this.maxBytes) {
        const rows = q === 'expired' ? this.#q[q]!.all(now) : this.#q[q]!.all();
        if (rows.length === 0) break;
        for (const row of rows) {
          this.#drop(Number(row['id']));
          if (this.usage() <= this.maxBytes) return;
        }
      }
    }
    // Still over: the rest is puts in progress; they are bounded by
    // maxEntryBytes each and settle (commit or abort) on their own.
  }

  #tx<T>(work: () => T): T {
    // IMMEDIATE: take the write lock up front (waiting up to busy_timeout for
    // another host), so a transaction never fails half-way on a lock upgrade.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const r = work();
      this.#db.exec('COMMIT');
      return r;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }
}

/** One body read from a snapshot (see CacheStore.snapshotReader); close() ends the read transaction. */
export class CacheBodyReader {
  readonly #db: DatabaseSync;
  readonly #stmt: StatementSync;
  readonly #id: number;
  readonly chunks: number;
  #closed = false;

  constructor(db: DatabaseSync, id: number, chunks: number) {
    this.#db = db;
    this.#id = id;
    this.chunks = chunks;
    this.#stmt = db.prepare('SELECT data FROM chunks WHERE entry = ? AND seq = ?');
  }

  chunk(seq: number): Uint8Array | undefined {
    if (this.#closed) return undefined;
    const row = this.#stmt.get(this.#id, seq);
    return row === undefined ? undefined : (row['data'] as Uint8Array);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
