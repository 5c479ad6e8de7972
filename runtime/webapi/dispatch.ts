// Request dispatch inside the isolate: turns host entries into calls of the
// worker's fetch handler and streams the Response back through `emit`.
//
// Every function here is an *entry*: the host calls it synchronously with a
// CPU budget, and microtasks run before the entry returns. Nothing in this file
// waits on a host promise; async host results come back as further entries.

import { defineGlobal } from './define.ts';
import { host, setCurrentRequest } from './bridge.ts';
import { clearRequestTimers } from './timers.ts';
import { format } from './console.ts';
import { createIncomingRequest, isResponse, responseParts } from './fetch-api.ts';
import { drain, streams, type Drain } from './streams.ts';
import { createSignal, signalAbort, type AbortSignal } from './abort.ts';
import type { KvModule } from './kv.ts';
import { required } from './lazy.ts';
import { responseWebSocket, type Response } from './response.ts';
import { bindSocket, flushSocket, setDefaultBinaryType, socketGone } from './websocket-seam.ts';
import {
  apply,
  arrayIndexOf,
  arrayJoin,
  arrayPush,
  arraySplice,
  copyArray,
  defineProperty,
  objectFreeze,
  objectKeys,
  PromiseCtor,
  promiseThen,
  resolvedWith,
  SafeMap,
  stringIndexOf,
  stringSlice,
  typedArrayByteLength,
  Uint8ArrayCtor,
} from './intrinsics.ts';

export type WorkerFormat = 'module' | 'service-worker';

interface ExecutionContext {
  waitUntil(promise: unknown): void;
  passThroughOnException(): void;
}

type Handler = (request: Request, env: Record<string, unknown>, ctx: ExecutionContext) => unknown;

let handler: Handler | undefined;
let env: Record<string, unknown> = {};

/** What a scheduled handler receives (Workers' ScheduledController). */
class ScheduledController {
  readonly cron: string;
  readonly scheduledTime: number;
  constructor(cron: string, scheduledTime: number) {
    this.cron = cron;
    this.scheduledTime = scheduledTime;
  }
  /** A failed run is never retried by edgefn; accepted for compatibility. */
  noRetry(): void {}
}

type ScheduledHandler = (controller: ScheduledController, env: Record<string, unknown>, ctx: ExecutionContext) => unknown;
let scheduledHandler: ScheduledHandler | undefined;

/** An own, plain copy of `vars`, made with captured built-ins (it runs at install, after the worker's top level). */
function copyRecord(vars: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = objectKeys(vars);
  // Defined, not assigned: a var named "__proto__" is a property like any other, as with spread.
  for (let i = 0; i < names.length; i++) defineProperty(out, names[i] as string, { value: vars[names[i] as string], writable: true, enumerable: true, configurable: true });
  return out;
}

// ---- service-worker format: addEventListener('fetch', …) on the global scope ----

type Listener = ((event: FetchEvent) => void) | { handleEvent(event: FetchEvent): void };
const fetchListeners: Listener[] = [];

class FetchEvent {
  readonly type = 'fetch';
  readonly request: Request;
  #ctx: ExecutionContext;
  #response: Promise<unknown> | undefined;
  #stopped = false;
  constructor(request: Request, ctx: ExecutionContext) {
    this.request = request;
    this.#ctx = ctx;
  }
  respondWith(response: unknown): void {
    if (this.#response !== undefined) throw DOMExceptionLike('respondWith() was already called.', 'InvalidStateError');
    this.#response = resolvedWith(response);
  }
  waitUntil(promise: unknown): void {
    this.#ctx.waitUntil(promise);
  }
  passThroughOnException(): void {}
  stopImmediatePropagation(): void {
    this.#stopped = true;
  }
  get stopped(): boolean {
    return this.#stopped;
  }
  get response(): Promise<unknown> | undefined {
    return this.#response;
  }
}

// DOMException is defined by dom-exception.ts; looked up lazily so this file
// does not depend on the order APIs load in.
function DOMExceptionLike(message: string, name: string): Error {
  const D = (globalThis as { DOMException?: new (m: string, n: string) => Error }).DOMException;
  if (D !== undefined) return new D(message, name);
  const e = new Error(message);
  e.name = name;
  return e;
}

// The listeners of each event type a service worker can handle.
type ScheduledListener = ((event: ScheduledEvent) => void) | { handleEvent(event: ScheduledEvent): void };
const scheduledListeners: ScheduledListener[] = [];
function listenersOf(type: string): Array<Listener | ScheduledListener> | undefined {
  return type === 'fetch' ? fetchListeners : type === 'scheduled' ? scheduledListeners : undefined;
}

defineGlobal('addEventListener', function addEventListener(type: string, listener: Listener) {
  const list = listenersOf(type);
  if (list !== undefined && listener != null && arrayIndexOf(list, listener) < 0) list[list.length] = listener;
});
defineGlobal('removeEventListener', function removeEventListener(type: string, listener: Listener) {
  const list = listenersOf(type);
  const i = list === undefined ? -1 : arrayIndexOf(list, listener);
  if (list !== undefined && i >= 0) arraySplice(list, i, 1);
});

/** The service-worker format's `scheduled` event. */
class ScheduledEvent {
  readonly type = 'scheduled';
  readonly cron: string;
  readonly scheduledTime: number;
  #ctx: ExecutionContext;
  constructor(controller: ScheduledController, ctx: ExecutionContext) {
    this.cron = controller.cron;
    this.scheduledTime = controller.scheduledTime;
    this.#ctx = ctx;
  }
  waitUntil(promise: unknown): void {
    this.#ctx.waitUntil(promise);
  }
  noRetry(): void {}
}
defineGlobal('ScheduledEvent', ScheduledEvent);
// Not a global in workerd either; named by hand, as the prelude is minified
// (define.ts says why names matter).
defineProperty(ScheduledController, 'name', { value: 'ScheduledController', configurable: true });

function serviceWorkerScheduled(controller: ScheduledController, _env: Record<string, unknown>, ctx: ExecutionContext): unknown {
  const event = new ScheduledEvent(controller, ctx);
  const listeners = copyArray(scheduledListeners);
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i] as ScheduledListener;
    if (typeof l === 'function') l(event);
    else l.handleEvent(event);
  }
  return undefined;
}

function noFetchHandler(): never {
  throw new Error('the worker has no fetch handler (it only handles scheduled events)');
}
defineGlobal('FetchEvent', FetchEvent);

function serviceWorkerHandler(request: Request, _env: Record<string, unknown>, ctx: ExecutionContext): unknown {
  const event = new FetchEvent(request, ctx);
  const listeners = copyArray(fetchListeners);
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i] as Listener;
    if (typeof l === 'function') l(event);
    else l.handleEvent(event);
    if (event.stopped) break;
  }
  if (event.response === undefined) throw new Error('No fetch listener called event.respondWith()');
  return event.response;
}

/**
 * Entry: bind the worker. `exports` is the completion value of the module
 * format's wrapped script (its export object). `kv` names the worker's KV
 * bindings, each of which becomes a namespace object beside its vars.
 * `flags` are its compatibility flags (those the isolate reads at run time).
 * Returns '' or why the worker has no usable handler.
 */
export function install(exports: unknown, fmt: WorkerFormat, vars: Record<string, unknown>, kv?: string[], flags?: string[]): string {
  let standardBinaryType = false;
  if (flags !== undefined) for (let i = 0; i < flags.length; i++) if (flags[i] === 'websocket_standard_binary_type') standardBinaryType = true;
  setDefaultBinaryType(standardBinaryType ? 'blob' : 'arraybuffer');
  const bindings = copyRecord(vars);
  if (kv !== undefined && kv.length > 0) {
    const { kvBinding } = required<KvModule>('kv');
    for (let i = 0; i < kv.length; i++) defineProperty(bindings, kv[i] as string, { value: kvBinding(kv[i] as string), writable: true, enumerable: true, configurable: true });
  }
  env = objectFreeze(bindings);
  if (fmt === 'service-worker') {
    if (fetchListeners.length === 0 && scheduledListeners.length === 0) return 'the script does not call addEventListener("fetch", …) or addEventListener("scheduled", …)';
    // A service-worker script has no env argument: its vars and secrets are
    // globals, as in workerd. They are bound here, after the script's top
    // level has run, so they are visible to fetch listeners but not yet to
    // top-level code.
    const names = objectKeys(bindings);
    for (let i = 0; i < names.length; i++) defineGlobal(names[i] as string, bindings[names[i] as string]);
    handler = fetchListeners.length === 0 ? noFetchHandler : serviceWorkerHandler;
    scheduledHandler = serviceWorkerScheduled;
    return '';
  }
  const def = (exports as { default?: unknown } | null | undefined)?.default;
  if (def == null || typeof def !== 'object' && typeof def !== 'function') {
    return 'the module has no default export; expected `export default { fetch(request, env, ctx) { … } }`';
  }
  const fetch = (def as { fetch?: unknown }).fetch;
  const scheduled = (def as { scheduled?: unknown }).scheduled;
  if (typeof fetch !== 'function' && typeof scheduled !== 'function') return 'the default export has no fetch() method (nor a scheduled() one)';
  handler = typeof fetch === 'function' ? (request, e, ctx) => apply(fetch as Handler, def, [request, e, ctx]) : noFetchHandler;
  scheduledHandler = typeof scheduled === 'function' ? (controller, e, ctx) => apply(scheduled as ScheduledHandler, def, [controller, e, ctx]) : undefined;
  return '';
}

// ---- requests in flight ----

interface Inflight {
  /** Made when the worker first reads request.signal. */
  abort: AbortSignal | undefined;
  /** Set when the request was cancelled before anyone read the signal. */
  cancelled: unknown;
  /** Releases the response pump, parked while the client catches up. */
  resume: (() => void) | undefined;
  /** The request body's controller until the body has ended. */
  body: ReadableByteStreamController | undefined;
  bodyWaiter: (() => void) | undefined;
  waitUntil: Promise<unknown>[];
  responded: boolean;
  /** The reading of a streamed response body, until it ends. */
  drain: Drain | undefined;
}

const inflight = new SafeMap<number, Inflight>();

/** `text` split at '\n' (String.prototype.split would consult a Symbol.split a tenant can define). */
function splitLines(text: string): string[] {
  const out: string[] = [];
  if (text === '') return out;
  let from = 0;
  for (;;) {
    const at = stringIndexOf(text, '\n', from);
    if (at < 0) {
      out[out.length] = stringSlice(text, from);
      return out;
    }
    out[out.length] = stringSlice(text, from, at);
    from = at + 1;
  }
}

const BODY_NONE = 0;
const BODY_WHOLE = 1;
const BODY_STREAM = 2;

/** What a request and a scheduled run start with: request `id` current, its state in flight, and its ExecutionContext. */
function begin(id: number): { state: Inflight; ctx: ExecutionContext } {
  setCurrentRequest(id);
  const state: Inflight = { abort: undefined, cancelled: undefined, resume: undefined, body: undefined, bodyWaiter: undefined, waitUntil: [], responded: false, drain: undefined };
  inflight.set(id, state);
  const ctx: ExecutionContext = {
    waitUntil(p: unknown) {
      // Adopted by a SealedPromise: the worker's promise is resolved through
      // its own then (as awaiting it would), and watched through intrinsics.
      arrayPush(state.waitUntil, resolvedWith(p));
    },
    passThroughOnException() {},
  };
  return { state, ctx };
}

/**
 * Entry: start request `id`. headers is flat [name, value, …]. bodyMode says
 * whether there is no body, the whole body in `bytes`, or chunks to follow via
 * `deliverBody`.
 */
export function dispatch(id: number, method: string, url: string, headerText: string | string[], bodyMode: number, bytes: Uint8Array | null): void {
  const { state, ctx } = begin(id);
  // The host sends header lines joined by '\n' (no header name or value may
  // contain one): a string crosses into the isolate without a structured copy.
  const headers = typeof headerText === 'string' ? splitLines(headerText) : headerText;
  let body: ReadableStream<Uint8Array> | Uint8Array | null = null;
  if (bodyMode === BODY_WHOLE) body = bytes;
  else if (bodyMode === BODY_STREAM) {
    // A byte stream, as in workerd, so BYOB readers work. Its high-water mark
    // is 0: the read-ahead is the host's queue (up to REQUEST_WINDOW_BYTES,
    // filled from the socket while the worker works), and a read that finds
    // this stream empty asks for the next batch within the same entry, which
    // the host delivers as soon as that entry returns. A mark above 0 would
    // also pull a batch into every request whose worker never reads its body,
    // and hold up to a window per concurrent upload inside the isolate's
    // memory limit, without saving an entry.
    body = new (streams().ReadableStream)({
      type: 'bytes',
      start(c: ReadableByteStreamController) {
        state.body = c;
      },
      pull() {
        return new PromiseCtor<void>((resolve) => {
          state.bodyWaiter = resolve;
          host().emit(id, 'pull');
        });
      },
      cancel() {
        state.body = undefined;
        host().emit(id, 'body-cancel');
      },
    }) as ReadableStream<Uint8Array>;
  }
  let result: unknown;
  try {
    if (handler === undefined) throw new Error('edgefn: dispatch before install');
    const request = createIncomingRequest(method, url, headers, body, () => {
      if (state.abort === undefined) {
        state.abort = createSignal();
        if (state.cancelled !== undefined) signalAbort(state.abort, state.cancelled);
      }
      return state.abort as unknown as globalThis.AbortSignal;
    });
    result = handler(request, env, ctx);
  } catch (err) {
    fail(id, state, err);
    return;
  }
  if (isResponse(result)) respond(id, state, result);
  else promiseThen(resolvedWith(result), (r) => respond(id, state, r), (err: unknown) => fail(id, state, err));
}

/**
 * Entry: run the scheduled handler as request `id`. Its outcome travels like
 * a request's: 'error' when it throws or its promise rejects, then 'done'
 * once it and every waitUntil promise have settled.
 */
export function scheduled(id: number, cron: string, scheduledTime: number): void {
  const { state, ctx } = begin(id);
  let result: unknown;
  try {
    if (scheduledHandler === undefined) throw new Error('the worker has no scheduled handler: export default { scheduled(controller, env, ctx) { … } }, or addEventListener("scheduled", …)');
    result = scheduledHandler(new ScheduledController(cron, scheduledTime), env, ctx);
  } catch (err) {
    fail(id, state, err);
    return;
  }
  promiseThen(
    resolvedWith(result),
    () => {
      if (!inflight.has(id) || state.responded) return;
      state.responded = true;
      finish(id, state);
    },
    (err: unknown) => fail(id, state, err),
  );
}

function fail(id: number, state: Inflight, err: unknown): void {
  if (state.responded) {
    host().log('error', `Uncaught (in response) ${format([err])}`);
    return;
  }
  state.responded = true;
  host().emit(id, 'error', 'exception', format([err]));
  finish(id, state);
}

function respond(id: number, state: Inflight, r: unknown): void {
  if (!inflight.has(id) || state.responded) return;
  if (!isResponse(r)) {
    state.responded = true;
    const what = r === null ? 'null' : Array.isArray(r) ? 'an array' : typeof r === 'object' ? `an object (${(r as object).constructor?.name ?? 'Object'})` : typeof r;
    host().emit(id, 'error', 'bad-response', `The handler returned ${what}, not a Response`);
    finish(id, state);
    return;
  }
  let parts: ReturnType<typeof responseParts>;
  try {
    parts = responseParts(r);
  } catch (err) {
    fail(id, state, err);
    return;
  }
  state.responded = true;
  const { status, headers, body } = parts;
  const webSocket = responseWebSocket(r as unknown as Response);
  if (webSocket !== null) {
    // A 101 with the client end of a pair: the request lives on as the
    // socket, and finishes once the socket is over (websocket.ts).
    const problem = bindSocket(webSocket, id, () => finish(id, state));
    if (problem !== undefined) {
      host().emit(id, 'error', 'bad-response', problem);
      finish(id, state);
      return;
    }
    host().emit(id, 'upgrade', arrayJoin(headers, '\n'));
    flushSocket(id);
    return;
  }
  if (body === null || body instanceof Uint8Array) {
    if (state.waitUntil.length > 0) {
      host().emit(id, 'head', status, arrayJoin(headers, '\n'), body);
      finish(id, state);
      return;
    }
    // The whole response, and nothing left to wait for: the request is over
    // with it, said in one host call instead of 'head' then 'done' (a call
    // across the boundary costs the host ~7 µs, a warm hello request ~60).
    host().emit(id, 'whole', status, arrayJoin(headers, '\n'), body);
    over(id);
    return;
  }
  host().emit(id, 'head', status, arrayJoin(headers, '\n'), 'stream');
  state.drain = drain(
    body,
    (value) => {
      if (!(value instanceof Uint8ArrayCtor)) throw new TypeError('a response body stream produced a chunk that is not a Uint8Array');
      // The host answers false when the client is not keeping up; the next
      // read then waits for resumeResponse, so a fast producer and a slow
      // client never pile the body up in the front door.
      if (typedArrayByteLength(value) === 0 || host().emit(id, 'chunk', value) !== false) return undefined;
      return new PromiseCtor<void>((resolve) => {
        state.resume = resolve;
      });
    },
    (err) => {
      state.drain = undefined;
      if (!inflight.has(id)) return;
      if (err === undefined) {
        host().emit(id, 'end');
      } else {
        host().log('error', `Uncaught (in response body) ${format([err])}`);
        host().emit(id, 'abort', format([err]));
      }
      finish(id, state);
    },
  );
}

/** Request `id` is over in this isolate: its state and its timers go. */
function over(id: number): void {
  inflight.delete(id);
  clearRequestTimers(id);
}

/** After the response: wait for every waitUntil promise, including ones added meanwhile, then say done. */
function finish(id: number, state: Inflight): void {
  const settle = (seen: number): void => {
    if (!inflight.has(id)) return;
    if (state.waitUntil.length === seen) {
      over(id);
      host().emit(id, 'done');
      return;
    }
    // Each promise is watched through the intrinsic then, and the batch is
    // counted down here (Promise.allSettled would call the worker's
    // Promise.prototype.then and build result objects with an Object.prototype).
    const batch = copyArray(state.waitUntil, seen);
    let pending = batch.length;
    const settled = (): void => {
      if (--pending === 0) settle(seen + batch.length);
    };
    for (let i = 0; i < batch.length; i++) {
      promiseThen(batch[i] as Promise<unknown>, settled, (reason: unknown) => {
        host().log('error', `Uncaught (in waitUntil) ${format([reason])}`);
        settled();
      });
    }
  };
  settle(0);
}

// A batch of request body between the stageBody and deliverBody entries
// that the host makes back to back.
let stagedRequest = 0;
let stagedBytes: ArrayBuffer | null = null;

// Garbage made in step with the body (request-body.ts says why and how much).
// Taken before tenant code runs: `Array` on the global is the tenant's to replace.
const ArrayCtor = Array;
// Held, so that the allocation cannot be optimized away; each replaces the last.
let pacer: unknown = null;

/**
 * Entry, not charged to the request: adopt the next batch of request body
 * (everything the host had queued, up to 1 MB, copied in by the isolate's
 * allocator) and allocate `pacerElements` of young garbage. This is where the
 * bytes start to count as external memory and where the GC their growth asks
 * for runs: the platform moving bytes, not the worker computing. So that
 * nothing of the tenant's can run uncharged here, it only assigns module
 * variables and calls a constructor captured at boot with a number the host
 * computed: no property access or call a tenant could have replaced
 * (`bytes.byteLength` is a prototype getter, Math.min a writable property),
 * and no microtask is pending, since every entry drains them before it returns.
 */
export function stageBody(id: number, bytes: ArrayBuffer, pacerElements: number): void {
  stagedRequest = id;
  stagedBytes = bytes;
  pacer = new ArrayCtor(pacerElements);
}

/** Entry: hand the staged batch (if any) to request `id`'s body stream, and close it when `end`. */
export function deliverBody(id: number, end: boolean): void {
  const bytes = stagedRequest === id ? stagedBytes : null;
  stagedBytes = null;
  stagedRequest = 0;
  const state = inflight.get(id);
  if (state === undefined || state.body === undefined) return;
  setCurrentRequest(id);
  const c = state.body;
  const waiter = state.bodyWaiter;
  state.bodyWaiter = undefined;
  try {
    if (bytes !== null && bytes.byteLength > 0) c.enqueue(new Uint8Array(bytes));
    if (end) {
      state.body = undefined;
      c.close();
      // A pending BYOB read must be answered after close (Streams §4.10.11).
      c.byobRequest?.respond(0);
    }
  } catch {
    // The worker cancelled the stream already.
  }
  waiter?.();
}

/** Entry: the client went away or the request hit its wall-time limit. */
export function cancel(id: number, reason: string): void {
  const state = inflight.get(id);
  if (state === undefined) return;
  setCurrentRequest(id);
  over(id);
  const err = DOMExceptionLike(reason, 'AbortError');
  try {
    state.body?.error(err);
  } catch {
    // already closed
  }
  state.bodyWaiter?.();
  state.drain?.stop(err);
  if (state.abort !== undefined) signalAbort(state.abort, err);
  else state.cancelled = err;
  // An upgraded request's socket goes with it (1006: no close frame was exchanged).
  socketGone(id, 1006, reason, false);
}

/**
 * Run one synthetic request through install and dispatch while the isolate
 * waits in the pool, so the first real request finds this path compiled
 * (measured: a fresh isolate's first dispatch cost ~0.3 ms more than later
 * ones). Its host events go nowhere: the pooled isolate has no owner yet.
 */
export function warmDispatch(): void {
  const Resp = (globalThis as unknown as { Response: typeof Response }).Response;
  install({ default: { fetch: () => new Resp('') } }, 'module', {});
  // Headers as the host sends them (one '\n'-joined string), so the split the real path takes is compiled too.
  dispatch(-1, 'GET', 'http://warm.invalid/', 'host\nwarm.invalid\naccept\n*/*', BODY_NONE, null);
  inflight.delete(-1);
  handler = undefined;
  scheduledHandler = undefined;
  env = {};
}

/** Entry: the client has caught up; carry on sending request `id`'s response body. */
export function resumeResponse(id: number): void {
  const state = inflight.get(id);
  if (state === undefined || state.resume === undefined) return;
  setCurrentRequest(id);
  const release = state.resume;
  state.resume = undefined;
  release();
}
