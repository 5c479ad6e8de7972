// The one typed seam between code inside an isolate and the host process.
//
// The host installs plain functions (isolated-vm Callbacks, which copy their
// arguments and hold no host object) as globals on a fresh context, then calls
// `__edgefn_boot` (see index.ts), which moves them into this module's closure
// and deletes the globals before any tenant code runs. Tenant code can
// therefore never reach a host function except through the Web APIs built on
// top of this module.

import { box, PromiseCtor, promiseThen, SafeMap } from './intrinsics.ts';

export interface HostBridge {
  /** console output for the function's log; fire-and-forget. */
  log(level: string, message: string): void;
  /**
   * The host's clock as it read when the current entry into the isolate
   * began (clock.ts says why it stands still during an entry): its monotonic
   * milliseconds (performance.now on the host), or with `wall` true its
   * wall-clock epoch milliseconds (Date.now on the host).
   */
  now(wall?: boolean): number;
  /** `length` cryptographically random bytes. */
  random(length: number): Uint8Array;
  /** Ask the host to call `tick(id)` after `delayMs`, charging it to request `request`. */
  timer(id: number, delayMs: number, request: number): void;
  clearTimer(id: number): void;
  /**
   * Response events for request `requestId`:
   *  - 'head', status, headers, body: headers are the flat list [name, value, …] joined with
   *    '\n' (which no valid name or value contains; one string crosses the boundary ~6x faster
   *    than an array of them); body a Uint8Array when the whole body is known, null when
   *    there is none, or the string 'stream' when chunks follow
   *  - 'chunk', Uint8Array (returns false when the client is slow: stop until `resumeResponse`);
   *    'end'
   *  - 'pull' (a read found the request body empty: the host answers with `deliverBody`);
   *    'body-cancel' (the worker cancelled the request body: the host drops the rest)
   *  - 'error', code, message: the handler threw or returned something that is not a Response
   *  - 'done' (every waitUntil promise settled)
   *  - 'whole', status, headers, body: 'head' with a body that is not 'stream', then 'done', in
   *    one call (a response complete when no waitUntil promise is pending)
   */
  emit(requestId: number, kind: string, a?: unknown, b?: unknown, c?: unknown): unknown;
  /** Start async host operation `op`; the host answers with `settle(callId, …)`. */
  call(callId: number, op: string, payload: unknown): void;
  /** Synchronous host operation (short, bounded work only: IDNA, hashing small inputs). */
  callSync(op: string, payload: unknown): unknown;
}

let bridge: HostBridge | undefined;

export function setHost(h: HostBridge): void {
  bridge = h;
}

/** Whether boot has run: code that also runs while the snapshot is made asks before calling the host. */
export function hostReady(): boolean {
  return bridge !== undefined;
}

export function host(): HostBridge {
  if (bridge === undefined) throw new Error('edgefn: host bridge used before boot');
  return bridge;
}

/** The request whose entry is running now; timers and host calls are charged to it. */
let currentRequest = 0;
export function setCurrentRequest(id: number): void {
  currentRequest = id;
}
export function getCurrentRequest(): number {
  return currentRequest;
}

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  /** The request that made the call: its continuation runs, and arms timers, as that request. */
  request: number;
}
const pendingCalls = new SafeMap<number, Pending>();
let nextCallId = 1;

/**
 * What an async host operation gave back, in a null-prototype box: resolving
 * a promise with the bare value (a fetch head, a chunk of bytes, a key) would
 * look up its `then`, which a tenant can define on Object.prototype, and hand
 * it our resolve function (intrinsics.ts).
 */
export interface HostResult {
  value: unknown;
}

/** Run async host operation `op`; rejects with the error the host reports. */
export function hostCall(op: string, payload: unknown): Promise<HostResult> {
  const id = nextCallId++;
  return new PromiseCtor<HostResult>((resolve, reject) => {
    pendingCalls.set(id, { resolve: resolve as Pending['resolve'], reject, request: currentRequest });
    host().call(id, op, payload);
  });
}

/**
 * hostCall whose continuation runs as the request that made it: the settle
 * entry is charged to that request by the host, but the isolate's notion of
 * the current request (which timers use) is whatever ran last, so it is put
 * back before the caller's code resumes. Chained on the platform's own
 * promises; the result stays boxed.
 */
export function requestCall(op: string, payload: unknown): Promise<HostResult> {
  const request = currentRequest;
  return promiseThen(
    hostCall(op, payload),
    (result) => {
      setCurrentRequest(request);
      return result;
    },
    (err: unknown) => {
      setCurrentRequest(request);
      throw err;
    },
  );
}

export interface HostError {
  name: string;
  message: string;
}

/** Called by the host (through an entry) when an async operation finishes. */
export function settleCall(id: number, ok: boolean, value: unknown): void {
  const p = pendingCalls.get(id);
  if (p === undefined) return;
  pendingCalls.delete(id);
  setCurrentRequest(p.request);
  if (ok) p.resolve(box({ value }));
  else p.reject(reviveError(value as HostError));
}

// Null-prototype: a host error name is never looked up on Object.prototype.
const errorFactories: Record<string, (message: string, name: string) => Error> = box({
  TypeError: (m: string) => new TypeError(m),
  RangeError: (m: string) => new RangeError(m),
  SyntaxError: (m: string) => new SyntaxError(m),
});

/** Register how a host error name becomes an in-isolate error (DOMException registers itself). */
export function registerErrorFactory(name: string, make: (message: string, name: string) => Error): void {
  errorFactories[name] = make;
}

export function reviveError(e: HostError): Error {
  const make = errorFactories[e.name];
  if (make !== undefined) return make(e.message, e.name);
  const fallback = errorFactories['DOMException'];
  if (fallback !== undefined) return fallback(e.message, e.name);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
