// An isolate and context made ready before any function needs them: restored
// from the snapshot, host bridge installed, entry functions resolved. The pool
// holds these; a function that goes live takes one and becomes its owner.

import ivm from 'isolated-vm';
import type { SnapshotResult } from './snapshot.ts';
import type { Prelude } from './prelude.ts';
import { ENTRY_NAMES, type EntryName } from './webapi/entries.ts';

/** What the bridge's host functions call. Set when a function takes the isolate. */
export interface IsolateOwner {
  /** `request`: the request whose entry wrote the line (0: none); the call arrives after that entry returned. */
  log(level: string, message: string, request: number): void;
  timer(id: number, delayMs: number, request: number): void;
  clearTimer(id: number): void;
  /** For 'chunk': false asks the isolate to stop sending until resumeResponse. */
  emit(request: number, kind: string, a: unknown, b: unknown, c: unknown): boolean | undefined;
  call(callId: number, op: string, payload: unknown): void;
  callSync(op: string, payload: unknown): unknown;
  /** The clock as read when the current entry began (runtime/webapi/clock.ts): monotonic ms, or epoch ms when `wall`. */
  now(wall: boolean): number;
}

type Entry = ivm.Reference<(...args: never[]) => unknown>;

/** The object runtime/webapi/index.ts's boot returns, as References (what each does: runtime/webapi/entries.ts). */
export type Entries = Record<EntryName, Entry>;

export interface PreparedIsolate {
  isolate: ivm.Isolate;
  context: ivm.Context;
  entries: Entries;
  memoryMb: number;
  owner: IsolateOwner | undefined;
}

const noop = (): undefined => undefined;

// V8 lost control of an isolate (isolated-vm #266, #301): the process can hang
// if it goes on, so it ends now and its supervisor replaces it.
function onCatastrophicError(message: string): void {
  process.stderr.write(`edgefn: catastrophic isolate error, aborting this isolate host: ${message}\n`);
  process.abort();
}

function newIsolate(snap: SnapshotResult, memoryMb: number): ivm.Isolate {
  return new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError, ...(snap.snapshot === undefined ? {} : { snapshot: snap.snapshot }) });
}

/** The prepared isolate around `context`, and the arguments its boot takes. */
function shell(isolate: ivm.Isolate, context: ivm.Context, memoryMb: number): { p: PreparedIsolate; args: unknown[] } {
  const p: PreparedIsolate = { isolate, context, entries: undefined as unknown as Entries, memoryMb, owner: undefined };
  // The callbacks read `p.owner` at call time, so one prepared isolate can be
  // handed to whichever function needs it. Before that they do nothing.
  const cb = <A extends unknown[], R>(fn: (...a: A) => R, opts?: { ignored: true }) => new ivm.Callback(fn, opts);
  const args = [
    cb((level: string, message: string, request: number) => p.owner?.log(String(level), String(message), Number(request)), { ignored: true }),
    // Until a function owns the isolate (boot, pool warm-up) no tenant code
    // runs in it, and the live clock is read.
    cb((wall: unknown) => (p.owner === undefined ? (wall === true ? Date.now() : performance.now()) : p.owner.now(wall === true))),
    cb((n: number) => crypto.getRandomValues(new Uint8Array(n))),
    cb((id: number, ms: number, req: number) => p.owner?.timer(id, ms, req), { ignored: true }),
    cb((id: number) => p.owner?.clearTimer(id), { ignored: true }),
    cb((req: number, kind: string, a: unknown, b: unknown, c: unknown) => p.owner?.emit(req, kind, a, b, c)),
    // Not `ignored`: an ignored callback runs after the entry has returned,
    // when the owner no longer knows which request started the call, and its
    // result would never be settled. Run synchronously it only starts the op.
    cb((id: number, op: string, payload: unknown) => p.owner?.call(id, op, payload)),
    cb((op: string, payload: unknown) => (p.owner === undefined ? noop() : p.owner.callSync(op, payload))),
    // Not a callback: the budget wasm.ts holds WebAssembly memory to.
    memoryMb * 1024 * 1024,
  ];
  return { p, args };
}

function bindEntries(p: PreparedIsolate, list: ivm.Reference<Record<EntryName, unknown>>): PreparedIsolate {
  const entries = {} as Entries;
  for (const name of ENTRY_NAMES) entries[name] = list.getSync(name, { reference: true }) as Entry;
  list.release();
  p.entries = entries;
  return p;
}

const BOOT_OPTIONS = { result: { reference: true }, timeout: 5_000 } as const;

/** Make a prepared isolate on this thread (start-up fill, and pool misses on the request path). */
export function prepareIsolate(snap: SnapshotResult, prelude: Prelude, memoryMb: number): PreparedIsolate {
  const isolate = newIsolate(snap, memoryMb);
  try {
    const context = isolate.createContextSync();
    if (snap.snapshot === undefined) isolate.compileScriptSync(prelude.code, { filename: 'edgefn:prelude.js' }).runSync(context);
    const { p, args } = shell(isolate, context, memoryMb);
    const boot = context.global.getSync('__edgefn_boot', { reference: true }) as ivm.Reference<(...a: unknown[]) => unknown>;
    const list = boot.applySync(undefined, args as never[], BOOT_OPTIONS) as ivm.Reference<Record<EntryName, unknown>>;
    boot.release();
    return bindEntries(p, list);
  } catch (err) {
    if (!isolate.isDisposed) isolate.dispose();
    throw err;
  }
}

/**
 * The same, for background refills: only `new Isolate` (~1.7 ms here) blocks
 * this thread; deserializing the context (~0.6 ms) and boot, which compiles
 * and warms the request path (~1.5 ms), run on isolated-vm's thread pool, so
 * a request arriving meanwhile is not held up by them.
 */
export async function prepareIsolateAsync(snap: SnapshotResult, prelude: Prelude, memoryMb: number): Promise<PreparedIsolate> {
  const isolate = newIsolate(snap, memoryMb);
  try {
    const context = await isolate.createContext();
    if (snap.snapshot === undefined) await (await isolate.compileScript(prelude.code, { filename: 'edgefn:prelude.js' })).run(context);
    const { p, args } = shell(isolate, context, memoryMb);
    const boot = (await context.global.get('__edgefn_boot', { reference: true })) as ivm.Reference<(...a: unknown[]) => unknown>;
    const list = (await boot.apply(undefined, args as never[], BOOT_OPTIONS)) as ivm.Reference<Record<EntryName, unknown>>;
    boot.release();
    return bindEntries(p, list);
  } catch (err) {
    if (!isolate.isDisposed) isolate.dispose();
    throw err;
  }
}

export function disposePrepared(p: PreparedIsolate): void {
  p.owner = undefined;
  if (!p.isolate.isDisposed) {
    try {
      p.isolate.dispose();
    } catch {
      // already going away
    }
  }
}
