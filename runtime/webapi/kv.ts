// KV namespace bindings (Workers KV's API): the objects a worker finds in
// `env` for each of its `kv` bindings. Values are turned into bytes here and
// travel to the host's `kv` operation (router/kv-store.ts on the node), which
// knows which namespace a binding name opens: the worker names only its own
// binding, never a namespace, so it cannot reach another function's data.
// A lazy module (runtime/prelude.ts, LAZY_MODULES): loaded by the first
// install of a worker that has KV bindings (dispatch.ts).

import { requestCall, type HostResult } from './bridge.ts';
import { provide } from './lazy.ts';
import { utf8Decode, utf8Encode } from './encoding.ts';
import { streams, isReadableStream } from './streams.ts';
import { bodyFromStream, consumeOwnBytes } from './body.ts';
import {
  arrayBufferByteLength,
  box,
  bytesOf,
  copyBytes,
  isView,
  objectFreeze,
  promiseThen,
  rejectedWith,
  resolvedWith,
  arrayIndexOf,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
  Uint8ArrayCtor,
} from './intrinsics.ts';

type ValueType = 'text' | 'json' | 'arrayBuffer' | 'stream';
const TYPES: readonly string[] = ['text', 'json', 'arrayBuffer', 'stream'];

interface StoredValue {
  value: Uint8Array;
  /** JSON text, or null. */
  metadata: string | null;
}

/** The host call, continued as the request that made it (bridge.ts says why). */
function kvCall(payload: unknown): Promise<HostResult> {
  return requestCall('kv', payload);
}

function valueType(options: unknown): ValueType {
  if (options === undefined || options === null) return 'text';
  const type = typeof options === 'string' ? options : (options as { type?: unknown }).type;
  if (type === undefined) return 'text';
  if (typeof type !== 'string' || arrayIndexOf(TYPES, type) < 0) throw new TypeError(`Unknown response type "${String(type)}"; expected one of "text", "json", "arrayBuffer", "stream".`);
  return type as ValueType;
}

function convert(bytes: Uint8Array, type: ValueType): unknown {
  switch (type) {
    case 'text':
      return utf8Decode(bytes);
    case 'json':
      return JSON.parse(utf8Decode(bytes)) as unknown;
    case 'arrayBuffer': {
      const own = typedArrayByteOffset(bytes) === 0 && typedArrayByteLength(bytes) === arrayBufferByteLength(typedArrayBuffer(bytes) as ArrayBuffer) ? bytes : copyBytes(bytes);
      return typedArrayBuffer(own);
    }
    case 'stream':
      return new (streams().ReadableStream)({
        type: 'bytes',
        start(c: ReadableByteStreamController) {
          if (typedArrayByteLength(bytes) > 0) c.enqueue(bytes as Uint8Array<ArrayBuffer>);
          c.close();
        },
      });
  }
}

/** The value as bytes the host can store, or a rejection naming the accepted types. */
function valueBytes(value: unknown): Promise<Uint8Array> {
  if (typeof value === 'string') return resolvedWith(utf8Encode(value));
  if (value instanceof ArrayBuffer) return resolvedWith(copyBytes(new Uint8ArrayCtor(value)));
  if (isView(value)) return resolvedWith(copyBytes(bytesOf(value)));
  if (isReadableStream(value)) return promiseThen(consumeOwnBytes(bodyFromStream(value as ReadableStream<Uint8Array>)), (b) => b.value as Uint8Array);
  return rejectedWith(new TypeError('KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.'));
}

function checkKey(key: unknown, method: string): string {
  if (key === undefined) throw new TypeError(`KV ${method}() needs a key.`);
  return String(key);
}

function optionalNumber(options: Record<string, unknown>, name: string): number | undefined {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!(n === n)) throw new TypeError(`KV put(): "${name}" must be a number, got ${String(v)}.`);
  return n;
}

class KVNamespace {
  readonly #binding: string;

  constructor(binding: string) {
    this.#binding = binding;
  }

  #get(key: unknown, method: string): Promise<StoredValue | null> {
    try {
      const k = checkKey(key, method);
      return promiseThen(kvCall(box({ binding: this.#binding, action: 'get', key: k })), (r) => r.value as StoredValue | null);
    } catch (err) {
      return rejectedWith(err);
    }
  }

  get(key: string, options?: unknown): Promise<unknown> {
    let type: ValueType;
    try {
      type = valueType(options);
    } catch (err) {
      return rejectedWith(err);
    }
    return promiseThen(this.#get(key, 'get'), (v) => (v === null ? null : convert(v.value, type)));
  }

  getWithMetadata(key: string, options?: unknown): Promise<{ value: unknown; metadata: unknown; cacheStatus: null }> {
    let type: ValueType;
    try {
      type = valueType(options);
    } catch (err) {
      return rejectedWith(err);
    }
    return promiseThen(this.#get(key, 'getWithMetadata'), (v) => ({
      value: v === null ? null : convert(v.value, type),
      metadata: v === null || v.metadata === null ? null : (JSON.parse(v.metadata) as unknown),
      cacheStatus: null,
    }));
  }

  put(key: string, value: unknown, options?: unknown): Promise<void> {
    let k: string;
    let opts: { expiration?: number; expirationTtl?: number; metadata?: string } | undefined;
    try {
      k = checkKey(key, 'put');
      if (value === undefined) throw new TypeError('KV put() needs a value.');
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object') throw new TypeError('KV put(): options must be an object.');
        const o = options as Record<string, unknown>;
        const expiration = optionalNumber(o, 'expiration');
        const expirationTtl = optionalNumber(o, 'expirationTtl');
        // Serialized here, in the worker's realm, so that what crosses to
        // the host is a string, never the worker's objects.
        const metadata = o['metadata'] === undefined || o['metadata'] === null ? undefined : JSON.stringify(o['metadata']);
        if (o['metadata'] !== undefined && o['metadata'] !== null && metadata === undefined) throw new TypeError('KV put(): metadata must be serializable as JSON.');
        opts = box({ ...(expiration === undefined ? {} : { expiration }), ...(expirationTtl === undefined ? {} : { expirationTtl }), ...(metadata === undefined ? {} : { metadata }) });
      }
    } catch (err) {
      return rejectedWith(err);
    }
    return promiseThen(valueBytes(value), (bytes) => promiseThen(kvCall(box({ binding: this.#binding, action: 'put', key: k, value: bytes, options: opts })), () => undefined));
  }

  delete(key: string): Promise<void> {
    try {
      const k = checkKey(key, 'delete');
      return promiseThen(kvCall(box({ binding: this.#binding, action: 'delete', key: k })), () => undefined);
    } catch (err) {
      return rejectedWith(err);
    }
  }

  list(options?: unknown): Promise<unknown> {
    let o: { prefix?: string; limit?: number; cursor?: string } = {};
    try {
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object') throw new TypeError('KV list(): options must be an object.');
        const given = options as Record<string, unknown>;
        o = box({
          ...(given['prefix'] === undefined || given['prefix'] === null ? {} : { prefix: String(given['prefix']) }),
          ...(given['limit'] === undefined || given['limit'] === null ? {} : { limit: Number(given['limit']) }),
          ...(given['cursor'] === undefined || given['cursor'] === null ? {} : { cursor: String(given['cursor']) }),
        });
      }
    } catch (err) {
      return rejectedWith(err);
    }
    return promiseThen(kvCall(box({ binding: this.#binding, action: 'list', options: o })), (r) => {
      const page = r.value as { keys: Array<{ name: string; expiration?: number; metadata?: string }>; list_complete: boolean; cursor?: string };
      const keys = [];
      for (let i = 0; i < page.keys.length; i++) {
        const k = page.keys[i]!;
        const out: { name: string; expiration?: number; metadata?: unknown } = { name: k.name };
        if (k.expiration !== undefined) out.expiration = k.expiration;
        if (k.metadata !== undefined) out.metadata = JSON.parse(k.metadata) as unknown;
        keys[keys.length] = out;
      }
      return page.list_complete ? { keys, list_complete: true, cacheStatus: null } : { keys, list_complete: false, cursor: page.cursor, cacheStatus: null };
    });
  }
}

objectFreeze(KVNamespace.prototype);

/** What this lazy module provides: a binding's object for `env` (or the global scope of a service worker). */
export interface KvModule {
  kvBinding(binding: string): object;
}

provide('kv', { kvBinding: (binding: string): object => new KVNamespace(binding) } satisfies KvModule);
