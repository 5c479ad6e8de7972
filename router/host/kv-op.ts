// The isolate host's `kv` operation: what a worker's KV binding
// (runtime/webapi/kv.ts) asks for, served from the node's KV store. The
// namespace comes from the function's deployed bindings, looked up by the
// binding name the worker used; a name it was not given opens nothing.

import type { HostOp } from '../../runtime/index.ts';
import { KvInputError } from '../kv-store.ts';
import type { KvAccess } from '../cluster/kv-replica.ts';

interface KvPayload {
  binding: string;
  action: 'get' | 'put' | 'delete' | 'list';
  key?: string;
  value?: Uint8Array;
  options?: { expiration?: number; expirationTtl?: number; metadata?: string; prefix?: string; limit?: number; cursor?: string } | undefined;
}

export function createKvOp(store: KvAccess): HostOp {
  return async (payload, ctx) => {
    // An op starts inside the worker's isolate entry, on its CPU clock. The
    // store's work (SQLite, an fsync on every write) is I/O the tenant waits
    // for, not CPU it spends: it runs after the entry has returned, like a
    // fetch, and the wall budget covers it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const p = payload as KvPayload;
    const namespace = ctx.fn.kv?.[p.binding];
    if (namespace === undefined) throw new TypeError(`"${String(p.binding)}" is not a KV binding of this function`);
    try {
      switch (p.action) {
        case 'get': {
          const v = store.get(namespace, p.key as string);
          return v === undefined ? null : { value: v.value, metadata: v.metadata === null ? null : JSON.stringify(v.metadata) };
        }
        case 'put': {
          const o = p.options ?? {};
          await store.put(namespace, p.key as string, p.value as Uint8Array, {
            expiration: o.expiration,
            expirationTtl: o.expirationTtl,
            metadata: o.metadata === undefined ? undefined : (JSON.parse(o.metadata) as unknown),
          });
          return null;
        }
        case 'delete':
          await store.delete(namespace, p.key as string);
          return null;
        case 'list': {
          const page = store.list(namespace, p.options ?? {});
          // Metadata crosses as JSON text and is parsed in the worker's realm.
          return { ...page, keys: page.keys.map((k) => ({ ...k, ...(k.metadata === undefined ? {} : { metadata: JSON.stringify(k.metadata) }) })) };
        }
        default:
          throw new TypeError(`unknown KV action ${String(p.action)}`);
      }
    } catch (err) {
      if (err instanceof KvInputError) throw new TypeError(`KV ${p.action}() failed: ${err.message}`);
      if (err instanceof TypeError) throw err;
      throw new Error(`KV ${p.action}() failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}
