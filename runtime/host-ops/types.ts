// Host operations: work the in-isolate Web APIs ask the host to do (crypto,
// compression, outbound fetch, IDNA). An op receives copied data and returns
// copyable data (strings, numbers, plain objects, Uint8Array); it never hands
// a host object to the isolate. State an op keeps (a key, a zlib stream, an
// open response) lives in `ctx.isolate` or `ctx.request` under an id, and is
// dropped when the isolate or the request ends.

import type { FunctionSource } from '../function-source.ts';

export interface OpContext {
  readonly fn: FunctionSource;
  /** Per-isolate op state; cleared (after onDispose callbacks) when the isolate dies. */
  readonly isolate: Map<string, unknown>;
  /** Per-request op state, or undefined when no request is current. */
  readonly request: Map<string, unknown> | undefined;
  /** The current request's abort signal (client gone, wall limit, isolate death). */
  readonly signal: AbortSignal | undefined;
  /** Run `cleanup` when the isolate dies. */
  onDispose(cleanup: () => void): void;
}

/** An async op: its result (or error) comes back to the isolate as a `settle` entry. */
export type HostOp = (payload: unknown, ctx: OpContext) => Promise<unknown>;
/** A sync op: short and bounded, it runs inside the isolate's entry. */
export type HostOpSync = (payload: unknown, ctx: OpContext) => unknown;
