// The seam between the platform and the Node.js compatibility modules that
// a worker deployed with the `nodejs_compat` flag carries in its own bundle
// (runtime/node-compat/isolate/). Only for such a worker does the host call
// this entry, before the worker's script runs: it leaves one hidden global
// that the bundle's first module takes and deletes, holding the text
// bindings for `process.env` (Workers fills process.env at the top level,
// before any handler runs) and the one host operation those modules need
// synchronously (node:crypto's hashes). Isolates of other workers never see
// it, so their global scope stays as it was.

import { host } from './bridge.ts';
import { box, defineProperty } from './intrinsics.ts';

/** The sync host ops the compatibility modules may call, and no other. */
const NODE_OPS: Record<string, true> = box({ 'node-crypto': true });

/** Entry: install the hidden global for a nodejs_compat worker's bundle. */
export function nodeCompat(env: Record<string, string>): void {
  const callSync = (op: string, payload: unknown): unknown => {
    if (NODE_OPS[op] !== true) throw new Error(`edgefn: no host operation "${String(op)}" for Node.js compatibility`);
    return host().callSync(op, payload);
  };
  defineProperty(globalThis, '__edgefn_node', { value: box({ env, callSync }), configurable: true, writable: false, enumerable: false });
}
