// Every host operation the in-isolate APIs can call, by name. Adding one is
// adding a file here and a line below.

import { compressionClose, compressionStep } from './compression.ts';
import { subtleOp } from './crypto.ts';
import { htmlRewriterModule } from './html-rewriter.ts';
import { encodingTables } from './encoding-tables.ts';
import { idna } from './idna.ts';
import { nodeCryptoOp } from '../node-compat/crypto-op.ts';
import type { HostOp, HostOpSync } from './types.ts';

export type { HostOp, HostOpSync, OpContext } from './types.ts';
// Outbound fetch ops carry options (allow-list, limits), so the runtime builds them per instance.
export { createFetchOps, FETCH_DEFAULTS, parseAllowList, type FetchOptions } from './fetch.ts';
// The Cache API's ops carry the node's store (file and bounds), so they too are built per instance.
export { createCacheOps, CACHE_DEFAULTS, type CacheOptions } from './cache.ts';

export const BUILTIN_OPS: Record<string, HostOp> = {
  subtle: subtleOp,
  compression: compressionStep,
};

/**
 * Ops that are computation done for the tenant on the host's threads (WebCrypto,
 * zlib): their time is charged to the request's CPU budget, so a worker cannot
 * escape its budget by, say, generating RSA keys in a loop. Ops that wait on
 * the network (fetch) are not: waiting is the wall budget's business.
 */
export const CHARGED_OPS: ReadonlySet<string> = new Set(['subtle', 'compression']);

/**
 * Sync ops whose time is the process's, not the calling tenant's: work done
 * once per host for every function alike. Compiling lol-html's 928 KB of
 * WebAssembly (the first HTMLRewriter of any function in the process) takes
 * 20-60 ms; charged to whichever request came first, it put that request
 * near or past the default 50 ms budget. Every later call returns the
 * compiled module. Unpacking a legacy multi-byte encoding's table
 * ('encoding-tables', encoding-tables.ts) is the same: once per table and
 * process, then a copy; an isolate asks for each table at most once.
 */
export const UNCHARGED_SYNC_OPS: ReadonlySet<string> = new Set(['html-rewriter.module', 'encoding-tables']);

/**
 * Ops whose result is a message arriving for the worker (an outbound
 * WebSocket's next event): its entry starts a fresh CPU budget, as a message
 * on an accepted socket does (live-isolate.ts).
 */
export const MESSAGE_OPS: ReadonlySet<string> = new Set(['websocket.receive']);
// Outbound WebSockets share fetch's guard and subrequest count.
export { createWebSocketOps, type WebSocketClientOptions } from './websocket.ts';

export const BUILTIN_SYNC_OPS: Record<string, HostOpSync> = {
  idna,
  // TextDecoder's legacy multi-byte tables, once per isolate that decodes gbk, shift_jis, ….
  'encoding-tables': encodingTables,
  'compression.close': compressionClose,
  // node:crypto's hashes, for nodejs_compat workers (runtime/node-compat/).
  'node-crypto': nodeCryptoOp,
  'html-rewriter.module': htmlRewriterModule,
  // wasm.ts says so once per isolate, when it first tracks a WebAssembly.Memory.
  'wasm-in-use': (_payload, ctx) => void ctx.isolate.set(WASM_IN_USE, true),
};

/** Key in an isolate's op state: it has WebAssembly memory to account for after each entry. */
export const WASM_IN_USE = 'wasm-in-use';
