// The host's part in loading a nodejs_compat worker: before its script runs,
// the isolate gets its process.env and its host op (runtime/webapi/node-compat.ts).

import ivm from 'isolated-vm';
import type { FunctionSource } from '../function-source.ts';
import { hasNodeCompat, populatesProcessEnv } from './flags.ts';

type Entry = ivm.Reference<(...args: never[]) => unknown>;

/** Call the isolate's nodeCompat entry for `fn`, when it has the flag. Throws what applySync throws. */
export function enterNodeCompat(entry: Entry, fn: FunctionSource, timeoutMs: number): void {
  if (!hasNodeCompat(fn.compatibilityFlags)) return;
  // Text bindings only, as Workers puts in process.env: KV bindings are objects and are not in fn.env.
  const env = populatesProcessEnv(fn.compatibilityFlags) ? fn.env : {};
  entry.applySync(undefined, [new ivm.ExternalCopy(env).copyInto()] as never[], { timeout: timeoutMs });
}
