// An isolate restored from the real prelude's snapshot, booted with a host
// bridge of plain callbacks, for testing runtime/webapi/ from the outside.
// Going through the snapshot matters: it is where load-time traps (a library
// touching a global that snapshot creation lacks) show up.

import ivm from 'isolated-vm';
import { domainToASCII, domainToUnicode } from 'node:url';
import { buildPrelude } from '../../runtime/prelude.ts';
import { BUILTIN_OPS, BUILTIN_SYNC_OPS, createFetchOps, type FetchOptions, type HostOp, type OpContext } from '../../runtime/host-ops/index.ts';
import { LazyModules } from '../../runtime/lazy-modules.ts';
import { DEFAULT_LIMITS } from '../../runtime/limits.ts';
import { takeDueTimers, type HostTimer } from '../../runtime/due-timers.ts';
import { splitHeaderLines } from '../../runtime/response-head.ts';
import { ENTRY_NAMES, LAZY_MODULE_OP, type EntryName } from '../../runtime/webapi/entries.ts';

let snapshot: Promise<{ snapshot: ivm.ExternalCopy<ArrayBuffer>; lazy: LazyModules }> | undefined;

function getSnapshot(): Promise<{ snapshot: ivm.ExternalCopy<ArrayBuffer>; lazy: LazyModules }> {
  snapshot ??= buildPrelude().then((p) => ({ snapshot: ivm.Isolate.createSnapshot([{ code: p.code, filename: 'edgefn:prelude.js' }], p.warmup), lazy: new LazyModules(p.lazy) }));
  return snapshot;
}

type Entry = ivm.Reference<(...args: never[]) => unknown>;

export interface HostResponse {
  status: number;
  headers: string[];
  /** 'bytes' when the head carried the whole body, 'stream' when chunks followed, 'none' for no body. */
  mode: 'bytes' | 'stream' | 'none';
  text: string;
}

export interface WebapiIsolate {
  /** Run `body` as the body of an async function inside the isolate; resolves to its (copied) return value. */
  run<T = unknown>(body: string): Promise<T>;
  /**
   * Run `body` as the worker's fetch handler (with `request` in scope) inside a
   * dispatched request, where timers may be set; resolves to the returned value
   * after a JSON round trip.
   */
  inRequest<T = unknown>(body: string): Promise<T>;
  /**
   * Dispatch a request to a handler with `body` as its fetch() body; resolves to what the host received.
   * `sync` makes fetch() a plain function, whose Response reaches dispatch without a promise.
   */
  respond(body: string, options?: { sync?: boolean }): Promise<HostResponse>;
  /** Every console line the isolate printed, as "level: message". */
  logs: string[];
  /** Every callSync op the isolate made, for asserting what crossed the bridge. */
  syncCalls: Array<{ op: string; payload: unknown }>;
  /** The host-op context async and sync ops run with (one per isolate, like production's). */
  opContext: OpContext;
  dispose(): void;
}

const live = new Set<WebapiIsolate>();
/** Isolates not yet disposed, so a test file can fail when it leaks one. */
export function liveWebapiIsolates(): number {
  return live.size;
}

export interface WebapiIsolateOptions {
  /** Options for the fetch ops (allow-list, subrequests, timeout, fake DNS). */
  fetch?: FetchOptions;
  /** Extra or replacement async host ops. */
  hostOps?: Record<string, HostOp>;
}

export async function createWebapiIsolate(options: WebapiIsolateOptions = {}): Promise<WebapiIsolate> {
  const made = await getSnapshot();
  const isolate = new ivm.Isolate({ snapshot: made.snapshot, memoryLimit: 128 });
  const context = isolate.createContextSync();
  const logs: string[] = [];
  const syncCalls: Array<{ op: string; payload: unknown }> = [];
  const hostTimers = new Map<number, HostTimer>();
  const responses = new Map<number, { resolve(v: HostResponse): void; reject(e: Error): void; head?: HostResponse; chunks: Uint8Array[] }>();
  let entries: Partial<Record<EntryName, Entry>> = {};
  // Async host ops run as in LiveIsolate: each call belongs to the request
  // whose entry made it, and its settle entry runs as that request. A request's
  // op state and abort signal end when it reports 'done'.
  const ops: Record<string, HostOp> = { ...BUILTIN_OPS, ...createFetchOps(options.fetch), ...options.hostOps };
  const requestState = new Map<number, { ops: Map<string, unknown>; abort: AbortController }>();
  let current = 0;
  // As in LiveIsolate: the isolate's clocks read what the host's read when
  // the outermost entry began (runtime/webapi/clock.ts). Code run by `run()`
  // is in no entry and reads the live clock.
  let clock: { mono: number; wall: number } | undefined;
  const enter = (request: number, entry: Entry | undefined, args: unknown[], floor?: { mono: number; wall: number }): void => {
    if (isolate.isDisposed || entry === undefined) return;
    const outer = current;
    const outerClock = clock;
    // A timer's entry reads no earlier than its due time, as LiveIsolate's.
    clock ??= { mono: Math.max(performance.now(), floor?.mono ?? 0), wall: Math.max(Date.now(), floor?.wall ?? 0) };
    current = request;
    try {
      entry.applySync(undefined, args as never[], { arguments: { copy: true }, timeout: 10_000 });
    } catch (err) {
      logs.push(`entry-error: ${String(err)}`);
    } finally {
      current = outer;
      clock = outerClock;
    }
  };
  const hostCall = (callId: number, op: string, payload: unknown): void => {
    const request = current;
    const f = ops[op];
    let started: Promise<unknown>;
    try {
      started = f === undefined ? Promise.reject(new TypeError(`unknown host operation ${op}`)) : f(payload, contextFor(request));
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      (value) => enter(request, entries.settle, [callId, true, value]),
      (err: unknown) => enter(request, entries.settle, [callId, false, err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) }]),
    );
  };
  // Host ops run like production's (runtime/live-isolate.ts): per-isolate
  // state, results settled through the settle entry. Code run by `run()` has no
  // request, so no per-request state or signal, and its calls settle outside requests too.
  const opState = new Map<string, unknown>();
  const cleanups: Array<() => void> = [];
  const opContext: OpContext = {
    fn: { name: 'webapi-test', version: 1, format: 'module', code: '', env: {}, limits: { ...DEFAULT_LIMITS } },
    isolate: opState,
    request: undefined,
    signal: undefined,
    onDispose: (cleanup) => void cleanups.push(cleanup),
  };
  // Inside a dispatched request an op also gets that request's state and signal.
  const contextFor = (request: number): OpContext => {
    const st = requestState.get(request);
    return st === undefined ? opContext : { ...opContext, request: st.ops, signal: st.abort.signal };
  };

  // As LiveIsolate's: a host timeout fires every timer due by then, in due order.
  const fireTimers = (upTo: number): void => {
    for (const [id, t] of takeDueTimers(hostTimers, upTo)) {
      enter(timerRequests.get(id) ?? 0, entries.tick, [id], t.due);
      timerRequests.delete(id);
    }
  };
  const timerRequests = new Map<number, number>();
  const cb = <A extends unknown[], R>(fn: (...a: A) => R) => new ivm.Callback(fn);
  const bridge = [
    cb((level: string, message: string) => void logs.push(`${level}: ${message}`)),
    cb((wall: unknown) => (wall === true ? (clock?.wall ?? Date.now()) : (clock?.mono ?? performance.now()))),
    cb((n: number) => crypto.getRandomValues(new Uint8Array(n))),
    cb((id: number, ms: number, request: number) => {
      timerRequests.set(id, request);
      const due = { mono: (clock?.mono ?? performance.now()) + ms, wall: (clock?.wall ?? Date.now()) + Math.ceil(ms) };
      clearTimeout(hostTimers.get(id)?.handle);
      hostTimers.set(id, { handle: setTimeout(() => fireTimers(due.mono), Math.max(0, due.mono - performance.now())), due });
    }),
    cb((id: number) => {
      clearTimeout(hostTimers.get(id)?.handle);
      hostTimers.delete(id);
    }),
    cb((req: number, kind: string, a: unknown, b: unknown, c: unknown) => {
      if (kind === 'done' || kind === 'whole') {
        // Deferred like LiveIsolate's #finish: the entry that said 'done' is still running.
        queueMicrotask(() => {
          requestState.get(req)?.abort.abort(new Error('the request ended'));
          requestState.delete(req);
        });
      }
      const waiter = responses.get(req);
      if (waiter === undefined) return;
      if (kind === 'head' || kind === 'whole') {
        const head: HostResponse = { status: a as number, headers: splitHeaderLines(b as string), mode: c === 'stream' ? 'stream' : c === null ? 'none' : 'bytes', text: '' };
        if (c === 'stream') {
          waiter.head = head;
          return;
        }
        responses.delete(req);
        head.text = c instanceof Uint8Array ? new TextDecoder().decode(c) : '';
        waiter.resolve(head);
      } else if (kind === 'chunk') {
        waiter.chunks.push(a as Uint8Array);
      } else if (kind === 'end' && waiter.head !== undefined) {
        responses.delete(req);
        waiter.head.text = Buffer.concat(waiter.chunks).toString('utf8');
        waiter.resolve(waiter.head);
      } else if (kind === 'error' || kind === 'abort') {
        responses.delete(req);
        waiter.reject(new Error(`${kind} ${String(a)}: ${String(b)}`));
      }
    }),
    cb(hostCall),
    cb((op: string, payload: unknown) => {
      syncCalls.push({ op, payload });
      if (op === 'idna') {
        const { domain, toUnicode } = payload as { domain: string; toUnicode: boolean };
        return toUnicode ? domainToUnicode(domain) : domainToASCII(domain);
      }
      if (op === LAZY_MODULE_OP) return made.lazy.load(isolate, context, entries.lazyModule!, payload);
      const f = BUILTIN_SYNC_OPS[op];
      if (f !== undefined) return f(payload, opContext);
      throw new Error(`unknown sync op ${op}`);
    }),
  ];
  const boot = context.global.getSync('__edgefn_boot', { reference: true }) as ivm.Reference<(...a: unknown[]) => unknown>;
  const list = boot.applySync(undefined, bridge, { result: { reference: true } }) as ivm.Reference<Record<EntryName, unknown>>;
  for (const name of ENTRY_NAMES) entries[name] = list.getSync(name, { reference: true }) as Entry;
  boot.release();
  list.release();

  let nextRequest = 1;
  const self: WebapiIsolate = {
    logs,
    syncCalls,
    opContext,
    async run<T>(body: string): Promise<T> {
      return (await context.eval(`(async () => {\n${body}\n})()`, { promise: true, copy: true, timeout: 10_000 })) as T;
    },
    async inRequest<T>(body: string): Promise<T> {
      const { status, text } = await self.respond(`const value = await (async () => {\n${body}\n})(); return Response.json(value === undefined ? null : value);`);
      if (status !== 200) throw new Error(`handler answered ${status}: ${text}`);
      return JSON.parse(text) as T;
    },
    async respond(body: string, options: { sync?: boolean } = {}): Promise<HostResponse> {
      const exportsRef = context.evalSync(`({ default: { ${options.sync === true ? '' : 'async '}fetch(request, env, ctx) {\n${body}\n} } })`, { reference: true }) as ivm.Reference<unknown>;
      const why = entries.install?.applySync(undefined, [exportsRef.derefInto() as never, 'module' as never, new ivm.ExternalCopy({}).copyInto() as never]);
      exportsRef.release();
      if (why !== '') throw new Error(`install failed: ${String(why)}`);
      const id = nextRequest++;
      const result = new Promise<HostResponse>((resolve, reject) => responses.set(id, { resolve, reject, chunks: [] }));
      requestState.set(id, { ops: new Map(), abort: new AbortController() });
      enter(id, entries.dispatch, [id, 'GET', 'https://test.local/', ['Accept', '*/*'], 0, null]);
      return result;
    },
    dispose() {
      for (const st of requestState.values()) st.abort.abort(new Error('isolate disposed'));
      requestState.clear();
      for (const t of hostTimers.values()) clearTimeout(t.handle);
      hostTimers.clear();
      for (const c of cleanups.splice(0)) c();
      opState.clear();
      for (const e of Object.values(entries)) e.release();
      if (!isolate.isDisposed) isolate.dispose();
      live.delete(self);
    },
  };
  live.add(self);
  return self;
}
