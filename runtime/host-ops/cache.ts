// The Cache API, host side: the ops runtime/webapi/cache.ts calls.
//
//   cache.match  {cache, url, headers} → null on a miss, else the head, the
//                first body chunk, and a read id when more chunks follow
//   cache.read   {id} → the next body chunk, or null at the end
//   cache.cancel {id}  the worker stopped reading
//   cache.put    {cache, url, headers, status, statusText, resHeaders, body}
//                → null when the response is not stored (policy), else
//                {id}: for a streamed body (body 'stream'), its chunks follow
//   cache.write  {id, chunk}  one chunk of a streamed put; null commits it
//   cache.abort  {id}  the worker's body stream failed: forget the put
//   cache.delete {cache, url} → whether a live entry was deleted
//
// Entries are namespaced by function name and cache name, so one function
// never sees another's entries. Like fetch, every op belongs to the request
// that made it: a put or a read still open when the request ends is aborted
// or closed then. The time spent here is I/O, not the tenant's CPU (the ops
// are not in CHARGED_OPS).

import { CacheStore, CHUNK_BYTES, type CacheBodyReader } from './cache-store.ts';
import { storePolicy, varyNames } from './cache-policy.ts';
import type { HostOp, OpContext } from './types.ts';

export interface CacheOptions {
  /** The node's cache file (SQLite). Without one, every cache op fails with a TypeError saying so. */
  path?: string | undefined;
  /** Total bytes the node's cache holds, LRU-evicted past it. Default 256 MB. */
  maxBytes?: number | undefined;
  /** Largest body one entry may have, in bytes. Default 50 MB. */
  maxEntryBytes?: number | undefined;
}

/** An unfinished put older than this is a dead host's: past the longest wall limit (15 min), with a margin. */
const STALE_PUT_MS = 20 * 60_000;

export const CACHE_DEFAULTS = { maxBytes: 256 * 1024 * 1024, maxEntryBytes: 50 * 1024 * 1024 } as const;

/** A namespace no function name can forge: names are DNS labels, and JSON keeps the parts apart. */
function namespace(ctx: OpContext, cache: unknown): string {
  return JSON.stringify([ctx.fn.name, typeof cache === 'string' ? cache : null]);
}

function flatGet(flat: string[], name: string): string | null {
  let out: string | null = null;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if ((flat[i] as string).toLowerCase() !== name) continue;
    out = out === null ? (flat[i + 1] as string) : `${out}, ${flat[i + 1] as string}`;
  }
  return out;
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new TypeError(`${what}: malformed headers`);
  return v as string[];
}

const ETAG = /^(W\/)?"(.*)"$/;
function etagOf(v: string): string | undefined {
  return ETAG.exec(v.trim())?.[2];
}

/** RFC 9110 §13.1.2/§13.1.3, as workerd's cache answers them: 304 when the stored response is not newer. */
function notModified(req: string[], stored: string[]): boolean {
  const inm = flatGet(req, 'if-none-match');
  const etag = flatGet(stored, 'etag');
  if (inm !== null && etag !== null) {
    const mine = etagOf(etag);
    if (mine !== undefined && (inm.trim() === '*' || inm.split(',').some((t) => etagOf(t) === mine))) return true;
  }
  const ims = flatGet(req, 'if-modified-since');
  const lastModified = flatGet(stored, 'last-modified');
  if (ims !== null && lastModified !== null) {
    const since = Date.parse(ims);
    const modified = Date.parse(lastModified);
    if (!Number.isNaN(since) && !Number.isNaN(modified) && modified <= since) return true;
  }
  return false;
}

class PutState {
  readonly entry: number;
  #parts: Uint8Array[] = [];
  #buffered = 0;
  #seq = 0;
  #total = 0;
  #unlink: (() => void) | undefined;
  done = false;

  constructor(entry: number) {
    this.entry = entry;
  }

  link(signal: AbortSignal | undefined, onAbort: () => void): void {
    if (signal === undefined) return;
    signal.addEventListener('abort', onAbort, { once: true });
    this.#unlink = () => signal.removeEventListener('abort', onAbort);
  }

  unlink(): void {
    this.#unlink?.();
  }

  /** Take `chunk`; write every full CHUNK_BYTES (all that is left when `end`). */
  feed(store: CacheStore, chunk: Uint8Array | null): void {
    if (chunk !== null && chunk.byteLength > 0) {
      this.#parts.push(chunk);
      this.#buffered += chunk.byteLength;
      this.#total += chunk.byteLength;
      if (this.#total > store.maxEntryBytes) throw new RangeError(`cache.put: the response body is larger than the cache's per-entry limit of ${store.maxEntryBytes} bytes (EDGEFN_CACHE_ENTRY_MB)`);
    }
    while (this.#buffered >= CHUNK_BYTES || (chunk === null && this.#buffered > 0)) {
      const n = Math.min(CHUNK_BYTES, this.#buffered);
      const all = Buffer.concat(this.#parts, this.#buffered);
      const out = new Uint8Array(all.buffer, all.byteOffset, n);
      const rest = all.subarray(n);
      this.#parts = rest.byteLength > 0 ? [rest] : [];
      this.#buffered = rest.byteLength;
      store.append(this.entry, this.#seq++, out);
    }
  }
}

interface ReadState {
  reader: CacheBodyReader;
  next: number;
  unlink: () => void;
}

/** Build the cache ops for one runtime; the store is opened on first use, so a host whose workers never cache never opens it. */
export function createCacheOps(options: CacheOptions = {}): { ops: Record<string, HostOp>; close(): void } {
  const maxBytes = options.maxBytes ?? CACHE_DEFAULTS.maxBytes;
  const maxEntryBytes = options.maxEntryBytes ?? CACHE_DEFAULTS.maxEntryBytes;
  let store: CacheStore | undefined;
  const db = (): CacheStore => {
    if (options.path === undefined) throw new TypeError('The Cache API is not available: this runtime has no cache file configured.');
    if (store === undefined) {
      store = new CacheStore(options.path, { maxBytes, maxEntryBytes });
      // What a host that died mid-put left behind (the front door's recover()
      // covers node restarts; this covers a host replaced while the node ran).
      store.dropStale(STALE_PUT_MS);
    }
    return store;
  };

  const requestState = (ctx: OpContext): Map<string, unknown> => {
    const m = ctx.request;
    if (m === undefined) throw new Error('The Cache API can only be used while handling a request, not at the top level of a worker script.');
    return m;
  };

  const payloadOf = (payload: unknown, op: string): Record<string, unknown> => {
    if (payload === null || typeof payload !== 'object') throw new TypeError(`${op}: malformed payload`);
    const p = payload as Record<string, unknown>;
    if ('url' in p && typeof p['url'] !== 'string') throw new TypeError(`${op}: malformed payload`);
    return p;
  };

  let nextId = 1;

  const match: HostOp = (payload, ctx) => {
    const state = requestState(ctx);
    const p = payloadOf(payload, 'cache.match');
    const reqHeaders = strings(p['headers'], 'cache.match');
    const s = db();
    const entry = s.lookup(namespace(ctx, p['cache']), p['url'] as string, (name) => flatGet(reqHeaders, name));
    if (entry === undefined) return Promise.resolve(null);
    const headers = [...entry.headers, 'edgefn-cache', 'HIT'];
    if (notModified(reqHeaders, entry.headers)) return Promise.resolve({ status: 304, statusText: 'Not Modified', headers, body: null, read: 0 });
    if (entry.chunks <= 1) {
      const body = entry.chunks === 0 ? new Uint8Array(0) : s.chunk(entry.id, 0);
      // Gone between the two statements (another host replaced it): a miss.
      if (body === undefined) return Promise.resolve(null);
      return Promise.resolve({ status: entry.status, statusText: entry.statusText, headers, body, read: 0 });
    }
    const reader = s.snapshotReader(entry.id);
    if (reader === undefined) return Promise.resolve(null);
    const first = reader.chunk(0);
    if (first === undefined) {
      reader.close();
      return Promise.resolve(null);
    }
    const id = nextId++;
    const key = `cache:read:${id}`;
    const signal = ctx.signal;
    const onAbort = (): void => {
      state.delete(key);
      reader.close();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    state.set(key, { reader, next: 1, unlink: () => signal?.removeEventListener('abort', onAbort) } satisfies ReadState);
    return Promise.resolve({ status: entry.status, statusText: entry.statusText, headers, body: first, read: id });
  };

  const readState = (ctx: OpContext, payload: unknown): [string, ReadState | undefined] => {
    const id = (payload as { id?: unknown } | null)?.id;
    const key = `cache:read:${String(id)}`;
    return [key, ctx.request?.get(key) as ReadState | undefined];
  };

  const closeRead = (ctx: OpContext, key: string, r: ReadState): void => {
    ctx.request?.delete(key);
    r.unlink();
    r.reader.close();
  };

  const read: HostOp = (payload, ctx) => {
    const [key, r] = readState(ctx, payload);
    if (r === undefined) return Promise.reject(new TypeError('This cached response belongs to another request (or has ended): I/O objects cannot be shared between requests.'));
    if (r.next >= r.reader.chunks) {
      closeRead(ctx, key, r);
      return Promise.resolve(null);
    }
    const chunk = r.reader.chunk(r.next++);
    if (chunk === undefined) {
      closeRead(ctx, key, r);
      return Promise.reject(new TypeError('reading a cached response failed: its body is incomplete'));
    }
    return Promise.resolve(chunk);
  };

  const cancel: HostOp = (payload, ctx) => {
    const [key, r] = readState(ctx, payload);
    if (r !== undefined) closeRead(ctx, key, r);
    return Promise.resolve(null);
  };

  const put: HostOp = (payload, ctx) => {
    const state = requestState(ctx);
    const p = payloadOf(payload, 'cache.put');
    const reqHeaders = strings(p['headers'], 'cache.put');
    const resHeaders = strings(p['resHeaders'], 'cache.put');
    const status = Number(p['status']);
    const body = p['body'];
    const s = db();
    const policy = storePolicy(status, resHeaders, Date.now());
    if (policy === undefined) return Promise.resolve(null);
    const vary = varyNames(policy.headers);
    const declared = Number(flatGet(policy.headers, 'content-length') ?? NaN);
    if (declared > s.maxEntryBytes || (body instanceof Uint8Array && body.byteLength > s.maxEntryBytes)) {
      return Promise.reject(new RangeError(`cache.put: the response body is larger than the cache's per-entry limit of ${s.maxEntryBytes} bytes (EDGEFN_CACHE_ENTRY_MB)`));
    }
    const entry = s.begin({
      ns: namespace(ctx, p['cache']),
      url: p['url'] as string,
      vary,
      variant: vary.map((name) => flatGet(reqHeaders, name)),
      status,
      statusText: typeof p['statusText'] === 'string' ? p['statusText'] : '',
      headers: policy.headers,
      expires: Date.now() + policy.ttlMs,
    });
    const put = new PutState(entry);
    try {
      if (body !== 'stream') {
        put.feed(s, body instanceof Uint8Array ? body : null);
        put.feed(s, null);
        s.commit(entry);
        return Promise.resolve({ id: 0 });
      }
    } catch (err) {
      s.abort(entry);
      return Promise.reject(err);
    }
    const id = nextId++;
    const key = `cache:put:${id}`;
    state.set(key, put);
    put.link(ctx.signal, () => {
      state.delete(key);
      if (!put.done) s.abort(entry);
    });
    return Promise.resolve({ id });
  };

  const putState = (ctx: OpContext, payload: unknown): [string, PutState] => {
    const id = (payload as { id?: unknown } | null)?.id;
    const key = `cache:put:${String(id)}`;
    const put = ctx.request?.get(key);
    if (!(put instanceof PutState)) throw new TypeError('This cache.put() belongs to another request (or has ended).');
    return [key, put];
  };

  const finish = (ctx: OpContext, key: string, put: PutState): void => {
    put.done = true;
    put.unlink();
    ctx.request?.delete(key);
  };

  const write: HostOp = (payload, ctx) => {
    const [key, put] = putState(ctx, payload);
    const chunk = (payload as { chunk?: unknown }).chunk;
    const s = db();
    try {
      put.feed(s, chunk instanceof Uint8Array ? chunk : null);
      if (chunk === null) {
        finish(ctx, key, put);
        s.commit(put.entry);
      }
    } catch (err) {
      finish(ctx, key, put);
      s.abort(put.entry);
      return Promise.reject(err);
    }
    return Promise.resolve(null);
  };

  const abort: HostOp = (payload, ctx) => {
    const id = (payload as { id?: unknown } | null)?.id;
    const key = `cache:put:${String(id)}`;
    const put = ctx.request?.get(key);
    if (put instanceof PutState) {
      finish(ctx, key, put);
      db().abort(put.entry);
    }
    return Promise.resolve(null);
  };

  const del: HostOp = (payload, ctx) => {
    requestState(ctx);
    const p = payloadOf(payload, 'cache.delete');
    return Promise.resolve(db().delete(namespace(ctx, p['cache']), p['url'] as string));
  };

  return {
    ops: { 'cache.match': match, 'cache.read': read, 'cache.cancel': cancel, 'cache.put': put, 'cache.write': write, 'cache.abort': abort, 'cache.delete': del },
    close: () => store?.close(),
  };
}
