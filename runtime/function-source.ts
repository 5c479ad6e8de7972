// What the runtime needs to bring a deployed function to life.

import type { Limits } from './limits.ts';

export const WORKER_FORMATS = ['module', 'service-worker'] as const;
export type WorkerFormat = (typeof WORKER_FORMATS)[number];

export interface FunctionSource {
  name: string;
  version: number;
  format: WorkerFormat;
  /** The script as prepared by prepareScript(): for modules, a wrapped script whose completion value is the exports. */
  code: string;
  /** V8 code cache for `code`, produced in an isolate from the same snapshot. */
  cache?: Uint8Array | undefined;
  /** vars and secrets, as the worker sees them in `env`. */
  env: Record<string, string>;
  /** KV bindings: the name the worker sees in `env` → the namespace the host's `kv` op opens for it. */
  kv?: Record<string, string> | undefined;
  limits: Limits;
  /** Compatibility flags it was deployed with (runtime/node-compat/flags.ts); absent: none. */
  compatibilityFlags?: readonly string[] | undefined;
}

export function functionKey(name: string, version: number): string {
  return `${name}@${version}`;
}
