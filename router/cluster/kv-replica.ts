// KV on a cluster node. PostgreSQL is the system of record (cluster-db.ts,
// edgefn_kv); each node keeps a full copy in its own KV file (kv-store.ts) and
// serves every read from it, as Workers KV serves reads from an edge cache.
//
// - Writes (a worker's put/delete on an isolate host, or the control API in
//   the front door) go to PostgreSQL first and, once committed, to this
//   node's copy: the node that wrote sees its write at once (read-your-write).
// - The front door's KvReplica applies everyone's writes to the copy: woken
//   by NOTIFY, and polling every POLL_MS besides, so other nodes see a write
//   within about a second (eventual consistency, like Workers KV's).
// - Each change carries its seq; the copy applies a change only over an older
//   state of its key, so a late replicated change never undoes a newer local
//   one, and deletions are kept as tombstones for the same reason.

import type { KvListOptions, KvPutOptions, KvStore, KvValue } from '../kv-store.ts';
import type { KvListResult } from '../../sdk/wire.ts';
import { ClusterDb, KV_CHANNEL } from './cluster-db.ts';

/** What a worker's binding and the control API use: a KvStore on a standalone node, a ClusterKv in a cluster. */
export interface KvAccess {
  get(namespace: string, key: string): KvValue | undefined;
  list(namespace: string, options?: KvListOptions): KvListResult;
  put(namespace: string, key: string, value: Uint8Array, options?: KvPutOptions): void | Promise<void>;
  delete(namespace: string, key: string): void | Promise<void>;
}

/** How often the copy polls PostgreSQL besides being woken by NOTIFY (ms). */
const POLL_MS = 500;
/** Changes applied per query. */
const BATCH = 1000;
/** Where the copy keeps the last seq it applied (kv-store.ts state). */
const APPLIED = 'cluster-seq';

export class ClusterKv implements KvAccess {
  readonly #store: KvStore;
  readonly #db: ClusterDb;
  readonly #ownsDb: boolean;
  #migrated: Promise<void> | undefined;

  /** `db`: share the front door's; otherwise (an isolate host) a pool of its own is opened on `databaseUrl`. */
  constructor(store: KvStore, db: ClusterDb | { databaseUrl: string }) {
    this.#store = store;
    this.#ownsDb = !(db instanceof ClusterDb);
    this.#db = db instanceof ClusterDb ? db : new ClusterDb(db.databaseUrl);
  }

  get(namespace: string, key: string): KvValue | undefined {
    return this.#store.get(namespace, key);
  }

  list(namespace: string, options?: KvListOptions): KvListResult {
    return this.#store.list(namespace, options);
  }

  async put(namespace: string, key: string, value: Uint8Array, options: KvPutOptions = {}): Promise<void> {
    const write = this.#store.checkPut(namespace, key, value, options);
    const seq = await this.#write(namespace, key, write);
    this.#store.applyChanges([{ namespace, key, seq, write }]);
  }

  async delete(namespace: string, key: string): Promise<void> {
    this.#store.checkPut(namespace, key, new Uint8Array());
    const seq = await this.#write(namespace, key, null);
    this.#store.applyChanges([{ namespace, key, seq, write: null }]);
  }

  async #write(namespace: string, key: string, write: Parameters<ClusterDb['kvWrite']>[2]): Promise<number> {
    // The tables exist once any front door has joined; a host's first write
    // may come before its own front door has, so it makes sure (idempotent).
    this.#migrated ??= this.#db.migrate().catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    });
    await this.#migrated;
    return this.#db.kvWrite(namespace, key, write);
  }

  async close(): Promise<void> {
    if (this.#ownsDb) await this.#db.close();
  }
}

/** The front door's job: keep this node's copy caught up with PostgreSQL. */
export class KvReplica {
  readonly #store: KvStore;
  readonly #db: ClusterDb;
  readonly #log: (message: string) => void;
  #timer: NodeJS.Timeout | undefined;
  #listener: { end(): Promise<void> } | undefined;
  #syncing: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #closed = false;

  constructor(store: KvStore, db: ClusterDb, log: (message: string) => void) {
    this.#store = store;
    this.#db = db;
    this.#log = log;
  }

  /** Start following; a PostgreSQL out of reach is retried by the poll. */
  start(): void {
    this.#timer = setInterval(() => {
      if (this.#listener === undefined) void this.#listen();
      void this.sync().catch(() => {});
    }, POLL_MS);
    this.#timer.unref();
    void this.#listen();
    void this.sync().catch(() => {});
  }

  async #listen(): Promise<void> {
    if (this.#closed || this.#listener !== undefined) return;
    try {
      const client = await this.#db.listen(
        () => void this.sync().catch(() => {}),
        () => {
          this.#listener = undefined;
        },
        KV_CHANNEL,
      );
      if (this.#closed) await client.end().catch(() => {});
      else this.#listener = client;
    } catch {
      // The poll tries again.
    }
  }

  /** Apply every change after the last one applied. One sync at a time; a call meanwhile runs another after it. */
  sync(): Promise<void> {
    if (this.#syncing !== undefined) {
      this.#again = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      try {
        do {
          this.#again = false;
          for (;;) {
            if (this.#closed) return;
            const from = Number(this.#store.state(APPLIED) ?? 0);
            const changes = await this.#db.kvChangesSince(from, BATCH);
            if (changes.length === 0 || this.#closed) break;
            this.#store.applyChanges(changes);
            this.#store.setState(APPLIED, String(changes[changes.length - 1]!.seq));
            if (changes.length < BATCH) break;
          }
        } while (this.#again);
        if (this.#failing) this.#log('cluster KV: caught up again');
        this.#failing = false;
      } catch (err) {
        // Said once per outage, not on every poll.
        if (!this.#closed && !this.#failing) this.#log(`cluster KV: catching up failed (${err instanceof Error ? err.message : String(err)}); retrying every ${POLL_MS} ms`);
        this.#failing = true;
        throw err;
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#listener?.end().catch(() => {});
    await this.#syncing?.catch(() => {});
  }
}
