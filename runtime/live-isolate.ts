// One deployed function, alive in its own isolate, serving its requests.
//
// Budget model. The isolate is only ever entered synchronously from this
// process's main thread, through #enter(), and every entry runs with a
// `timeout` equal to what is left of the CPU budget of the request it belongs
// to. Microtasks drain before the entry returns, and nothing inside waits on a
// host promise: timers, request-body chunks and async host calls all come back
// as further entries. So code after an `await` always runs inside an entry
// with a budget (isolated-vm's timeout does not cover awaited host promises,
// docs/isolated-vm.md §4), and the charge is the main thread's real CPU time
// (see cpu-clock.ts), not isolated-vm's cpuTime, which is wall time while
// entered and over-charges tenants when hosts outnumber cores. One entry is
// run under the budget but not charged: stageBody, which moves a batch of
// request body into the isolate and runs no tenant code (request-body.ts).

import ivm from 'isolated-vm';
import { entryCpuMs, entryStart, entryTimeoutMs } from './cpu-clock.ts';
import type { LazyModules } from './lazy-modules.ts';
import { entryBegin, entryEnd } from './entry-watch.ts';
import { takeDueTimers, type HostTimer } from './due-timers.ts';
import { LAZY_MODULE_OP } from './webapi/entries.ts';
import { EdgefnError } from './errors.ts';
import { translateIsolateError } from './isolate-errors.ts';
import { checkResponseHead, splitHeaderLines } from './response-head.ts';
import { disposePrepared, type Entries, type IsolateOwner, type PreparedIsolate } from './prepared-isolate.ts';
import type { FunctionSource } from './function-source.ts';
import type { OpContext } from './host-ops/types.ts';
import { CHARGED_OPS, MESSAGE_OPS, UNCHARGED_SYNC_OPS, WASM_IN_USE } from './host-ops/index.ts';
import { HostWorkMeter } from './host-work-meter.ts';
import { RequestBody } from './request-body.ts';
import { enterNodeCompat } from './node-compat/host.ts';
import { RESPONSE_WINDOW_BYTES, type RequestHandle, type ResponseSink, type RuntimeRequest, type Timing } from './request-types.ts';

export interface LiveIsolateHooks {
  /** requestId: the request whose entry wrote the line, if it has one. */
  log(fn: FunctionSource, level: string, message: string, requestId: string | undefined): void;
  hostOp(op: string, payload: unknown, ctx: OpContext): Promise<unknown>;
  hostOpSync(op: string, payload: unknown, ctx: OpContext): unknown;
  /** The isolate died (budget, crash) or finished retiring; drop it from the live set. */
  gone(live: LiveIsolate): void;
  /** A code cache was produced on load because none was given or it was rejected. */
  codeCache(fn: FunctionSource, cache: Uint8Array): void;
  /** The platform modules left out of the snapshot, which a worker's first touch loads (runtime/webapi/lazy.ts). */
  lazyModules: LazyModules;
  startupCpuMs: number;
}

export interface ColdBreakdown {
  takeMs: number;
  compileMs: number;
  cacheHit: boolean;
  runMs: number;
  installMs: number;
}

interface ActiveRequest {
  id: number;
  /** The request id its log lines carry. */
  requestId: string | undefined;
  sink: ResponseSink;
  cpuMs: number;
  coldMs: number | undefined;
  responded: boolean;
  wall: NodeJS.Timeout;
  /** A streamed request body's queue and credit window; undefined for none or a whole one. */
  body: RequestBody | undefined;
  /** Streamed response bytes sent and not yet acknowledged as delivered. */
  unacked: number;
  /** The pump was told to wait and needs a resumeResponse entry. */
  pumpParked: boolean;
  /** Host-op state for this request, made on first use. */
  ops: Map<string, unknown> | undefined;
  abort: AbortController | undefined;
  /** An error response the worker produced during the current entry, sent when it returns. */
  error: { err: EdgefnError; log: string } | undefined;
  /** Answered with a WebSocket (101): from then on each message has a CPU budget of its own. */
  upgraded?: boolean;
  /** CPU charged to the socket's earlier messages, no longer in `cpuMs` (the current message's budget). */
  socketCpuMs?: number;
  /** Its charged host ops in flight, made on the first (host-work-meter.ts). */
  hostWork?: HostWorkMeter;
}

const BODY_NONE = 0;
const BODY_WHOLE = 1;
const BODY_STREAM = 2;


let nextRequestId = 1;

/** Longest console line kept, in characters. */
const MAX_LOG_CHARS = 8192;
/**
 * Log lines one isolate may send on per second, with bursts up to the same
 * number. Every line crosses to the front door; a worker logging in a loop
 * (100,000 lines of 1 KB in the tenant attack suite) sent ~100 MB there, of
 * which the node keeps the last 200 lines a function anyway. Past the rate,
 * lines are counted and dropped, and the next line let through says how many.
 */
const LOG_LINES_PER_SECOND = 1000;
/** Timers pending in one isolate at most. */
const MAX_TIMERS = 10_000;
/** Longest timer delay honoured; longer ones fire then (Node's own ceiling is 2^31 - 1 ms). */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Outbound fetches request r made: host-ops/fetch.ts counts them in the request's op state. */
function subrequestsOf(r: ActiveRequest): number {
  const n = r.ops?.get('fetch:count');
  return typeof n === 'number' ? n : 0;
}

/** Finished requests whose ids are kept for log lines that arrive after them. */
const RECENT_IDS = 256;

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null;

interface EntryOptions {
  /**
   * Add the entry's CPU time to the request's charge. Default true; false
   * only for stageBody (see runtime/webapi/dispatch.ts for why that entry
   * can run no tenant code). Either way the entry stops at the budget.
   */
  charge?: boolean;
  /**
   * Structured-copy the arguments. Default: when any is an object (body
   * bytes, host-op results; primitives cross as they are, and the copy costs
   * µs per call). False when the only objects are transfer handles
   * (ExternalCopy#copyInto), which cross without it.
   */
  copy?: boolean;
  /**
   * The readings (monotonic and wall) the entry's clocks must not be below: a timer's due
   * time. Node fires a timer by its loop's cached time, which can be up to a
   * millisecond older than the reading the worker saw when it set the timer,
   * so without this a 5 ms timer could read as 4.9 ms.
   */
  clockFloor?: { mono: number; wall: number };
}

interface PendingTimer extends HostTimer {
  request: number;
}

export class LiveIsolate implements IsolateOwner {
  readonly fn: FunctionSource;
  readonly #hooks: LiveIsolateHooks;
  readonly #p: PreparedIsolate;
  readonly #entries: Entries;
  readonly #requests = new Map<number, ActiveRequest>();
  readonly #timers = new Map<number, PendingTimer>();
  #state: 'live' | 'retiring' | 'dead' = 'live';
  readonly #opState = new Map<string, unknown>();
  readonly #cleanups: Array<() => void> = [];
  #timerCapLogged = false;
  /** Request ids of the last finished requests, by request number, for their late log lines. */
  readonly #recentIds = new Map<number, string>();
  /** Log lines that may go now (a token bucket refilled at LOG_LINES_PER_SECOND), when it was refilled, and lines dropped since the last that went. */
  #logTokens = LOG_LINES_PER_SECOND;
  #logRefilled = performance.now();
  #logDropped = 0;
  /** The request whose entry runs now, and the CPU clock at the entry's start. */
  #current: ActiveRequest | undefined;
  #entryStart: number | undefined;
  /**
   * The clock the isolate sees, read when the outermost entry began and
   * unchanged until the next one (runtime/webapi/clock.ts: the worker cannot
   * time its own code). Read here, on this side of the bridge, so an entry
   * costs no extra call into the isolate to set it.
   */
  #clockMono = performance.now();
  #clockWall = Date.now();
  /** ms the current entry spent in the host's own work (writing the response), not charged. */
  #hostMs = 0;
  /** Heap bytes after load, for the live set's memory bound. */
  heapBytes = 0;
  cold: ColdBreakdown | undefined;

  constructor(fn: FunctionSource, prepared: PreparedIsolate, hooks: LiveIsolateHooks) {
    this.fn = fn;
    this.#p = prepared;
    this.#entries = prepared.entries;
    this.#hooks = hooks;
    prepared.owner = this;
  }

  get isolate(): ivm.Isolate {
    return this.#p.isolate;
  }

  get activeRequests(): number {
    return this.#requests.size;
  }

  get alive(): boolean {
    return this.#state !== 'dead';
  }

  /**
   * Compile and run the script, then bind its fetch handler. Throws
   * ERR_SCRIPT_COMPILE / ERR_SCRIPT_STARTUP / ERR_NO_HANDLER (and disposes).
   * `produceCache`: always produce a fresh cache (deploy-time validation).
   */
  load(takeMs: number, produceCache = false): Uint8Array | undefined {
    const { isolate, context } = this.#p;
    const fn = this.fn;
    this.#readClock();
    let t = performance.now();
    let script: ivm.Script;
    let cacheHit = false;
    let produced: Uint8Array | undefined;
    try {
      const given = fn.cache !== undefined && !produceCache ? new ivm.ExternalCopy(fn.cache.buffer.slice(fn.cache.byteOffset, fn.cache.byteOffset + fn.cache.byteLength) as ArrayBuffer) : undefined;
      // With both options V8 produces a new cache only when the given one is
      // rejected (or absent), so a miss repairs itself on the next load.
      const compiled = isolate.compileScriptSync(fn.code, { filename: `${fn.name}.js`, produceCachedData: true, ...(given ? { cachedData: given } : {}) }) as ivm.Script & ivm.CachedDataResult & { cachedDataRejected?: boolean };
      script = compiled;
      cacheHit = given !== undefined && compiled.cachedDataRejected !== true;
      if (!cacheHit && compiled.cachedData !== undefined) produced = new Uint8Array(compiled.cachedData.copy());
    } catch (err) {
      this.#die();
      const e = translateIsolateError(err);
      throw e.code === 'ERR_INTERNAL' ? new EdgefnError('ERR_SCRIPT_COMPILE', e.message, { cause: err }) : e;
    }
    const compileMs = performance.now() - t;
    t = performance.now();
    let exports: ivm.Reference<unknown>;
    try {
      entryBegin(this.#hooks.startupCpuMs, this.fn.limits.memoryMb);
      enterNodeCompat(this.#entries.nodeCompat, fn, this.#hooks.startupCpuMs);
      exports = script.runSync(context, { reference: true, timeout: this.#hooks.startupCpuMs }) as ivm.Reference<unknown>;
    } catch (err) {
      this.#die();
      const e = translateIsolateError(err);
      if (e.code === 'ERR_CPU_LIMIT') throw new EdgefnError('ERR_SCRIPT_STARTUP', `the script's top level ran longer than the start-up budget of ${this.#hooks.startupCpuMs} ms`, { cause: err });
      if (e.code === 'ERR_INTERNAL') throw new EdgefnError('ERR_SCRIPT_STARTUP', `the script threw while starting: ${e.message}`, { cause: err });
      throw e;
    } finally {
      entryEnd();
      script.release();
    }
    const runMs = performance.now() - t;
    t = performance.now();
    let problem: unknown;
    try {
      problem = this.#entries.install.applySync(undefined, [exports.derefInto(), fn.format, new ivm.ExternalCopy(fn.env).copyInto(), new ivm.ExternalCopy(Object.keys(fn.kv ?? {})).copyInto(), new ivm.ExternalCopy([...(fn.compatibilityFlags ?? [])]).copyInto()] as never[], { timeout: this.#hooks.startupCpuMs });
    } catch (err) {
      this.#die();
      throw translateIsolateError(err);
    } finally {
      exports.release();
    }
    if (typeof problem === 'string' && problem !== '') {
      this.#die();
      throw new EdgefnError('ERR_NO_HANDLER', problem);
    }
    this.cold = { takeMs, compileMs, cacheHit, runMs, installMs: performance.now() - t };
    if (produceCache) {
      // Compiling the same source again hits V8's per-isolate compilation
      // cache, whose functions now include everything the top level ran, so
      // this cache also spares later cold starts the lazy compiles of the
      // script's start-up code (a ~100 KB Hono app: cache 39 KB → more, run
      // 1.2 ms → less; see bench/cold-start.ts).
      try {
        const again = isolate.compileScriptSync(fn.code, { filename: `${fn.name}.js`, produceCachedData: true }) as ivm.Script & ivm.CachedDataResult;
        if (again.cachedData !== undefined) produced = new Uint8Array(again.cachedData.copy());
        again.release();
      } catch {
        // keep the compile-time cache
      }
    }
    if (produced !== undefined && produced.byteLength > 0 && !produceCache) this.#hooks.codeCache(fn, produced);
    return produced;
  }

  #readClock(floor?: { mono: number; wall: number }): void {
    this.#clockMono = Math.max(performance.now(), floor?.mono ?? 0);
    this.#clockWall = Math.max(Date.now(), floor?.wall ?? 0);
  }

  now(wall: boolean): number {
    return wall ? this.#clockWall : this.#clockMono;
  }

  #nearMemoryLimit(): boolean {
    try {
      const h = this.#p.isolate.getHeapStatisticsSync();
      return h.used_heap_size + h.externally_allocated_size > 0.9 * this.fn.limits.memoryMb * 1024 * 1024;
    } catch {
      return true;
    }
  }

  /**
   * WebAssembly memory is outside isolated-vm's memoryLimit, so after every
   * entry the isolate reports it (wasm.ts, ~2 µs) and it is added to heap and
   * external usage. Heap statistics are read only when some wasm memory exists.
   */
  #overWasmBudget(): boolean {
    try {
      const wasm = this.#entries.wasmMemory.applySync(undefined, [], { timeout: 1000 }) as number;
      if (wasm === 0) return false;
      const h = this.#p.isolate.getHeapStatisticsSync();
      return h.used_heap_size + h.externally_allocated_size + wasm > this.fn.limits.memoryMb * 1024 * 1024;
    } catch {
      // The isolate went away under the check; nothing is left to measure.
      return this.#p.isolate.isDisposed;
    }
  }

  /** Measure the heap for the live set's size bound (a few µs). */
  measure(): number {
    try {
      const s = this.#p.isolate.getHeapStatisticsSync();
      this.heapBytes = s.total_heap_size + s.externally_allocated_size;
    } catch {
      this.heapBytes = 1;
    }
    return this.heapBytes;
  }

  handle(req: RuntimeRequest, sink: ResponseSink, coldMs: number | undefined): RequestHandle {
    const r = this.#begin(req.requestId, sink, coldMs, req.body === 'stream' ? new RequestBody() : undefined);
    const id = r.id;
    const mode = req.body === null ? BODY_NONE : req.body === 'stream' ? BODY_STREAM : BODY_WHOLE;
    this.#enter(r, this.#entries.dispatch, [id, req.method, req.url, req.headers.join('\n'), mode, req.body instanceof Uint8Array ? req.body : null]);
    return {
      pushBody: (chunk) => {
        if (r.body === undefined || !this.#requests.has(id)) return true;
        const room = r.body.push(chunk);
        if (r.body.deliverable) this.#scheduleBody(r);
        return room;
      },
      cancel: (reason) => {
        if (!this.#requests.has(id)) return;
        this.#enter(r, this.#entries.cancel, [id, reason]);
        this.#finish(r);
      },
      ackResponse: (bytes) => {
        r.unacked = Math.max(0, r.unacked - bytes);
        if (!r.pumpParked || r.unacked > RESPONSE_WINDOW_BYTES / 2 || !this.#requests.has(id)) return;
        r.pumpParked = false;
        this.#enter(r, this.#entries.resumeResponse, [id]);
      },
      socketMessage: (data) => {
        if (r.upgraded !== true || !this.#requests.has(id)) return;
        this.#socketBudget(r);
        // Binary arrives as a view of ws's receive buffer: the worker gets an
        // ArrayBuffer of its own (Workers' MessageEvent.data for binary).
        const value = typeof data === 'string' ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
        this.#enter(r, this.#entries.socketEvent, [id, 'message', value, null, null]);
      },
      socketError: (message) => {
        if (r.upgraded !== true || !this.#requests.has(id)) return;
        this.#enter(r, this.#entries.socketEvent, [id, 'error', message, null, null]);
      },
      socketClosed: (code, reason, wasClean) => {
        if (r.upgraded !== true || !this.#requests.has(id)) return;
        this.#socketBudget(r);
        this.#enter(r, this.#entries.socketEvent, [id, 'close', code, reason, wasClean]);
      },
    };
  }

  /**
   * Run the worker's scheduled handler, under the same budgets as a request
   * (CPU per run, wall time including waitUntil work, memory). Its outcome
   * arrives through `sink`: fail() when the handler threw or a budget
   * stopped it, then done() with the CPU charged.
   */
  scheduled(cron: string, scheduledTime: number, sink: ResponseSink, coldMs: number | undefined): void {
    const r = this.#begin(undefined, sink, coldMs, undefined);
    this.#enter(r, this.#entries.scheduled, [r.id, cron, scheduledTime]);
  }

  /** A request (or scheduled run) in flight, its wall budget running. */
  #begin(requestId: string | undefined, sink: ResponseSink, coldMs: number | undefined, body: RequestBody | undefined): ActiveRequest {
    const r: ActiveRequest = {
      id: nextRequestId++,
      requestId,
      sink,
      cpuMs: 0,
      coldMs,
      responded: false,
      wall: setTimeout(() => this.#wallLimit(r), this.fn.limits.wallMs),
      body,
      unacked: 0,
      pumpParked: false,
      ops: undefined,
      abort: undefined,
      error: undefined,
    };
    this.#requests.set(r.id, r);
    return r;
  }

  /** A message arrived on r's socket: what the last one used is set aside, and this one starts with the whole budget. */
  #socketBudget(r: ActiveRequest): void {
    r.socketCpuMs = (r.socketCpuMs ?? 0) + r.cpuMs;
    r.cpuMs = 0;
  }

  /** The request's whole charge: its current budget's use plus, for a socket, its earlier messages'. */
  #totalCpuMs(r: ActiveRequest): number {
    return r.cpuMs + (r.socketCpuMs ?? 0);
  }

  #timing(r: ActiveRequest): Timing {
    const inEntry = this.#current === r && this.#entryStart !== undefined ? Math.max(0, entryCpuMs(this.#entryStart) - this.#hostMs) : 0;
    return { coldMs: r.coldMs, cpuMs: r.cpuMs + inEntry };
  }

  /** Run one entry under request r's remaining CPU budget. */
  #enter(r: ActiveRequest, entry: ivm.Reference<(...a: never[]) => unknown>, args: unknown[], options: EntryOptions = {}): void {
    if (this.#state === 'dead') return;
    const left = this.fn.limits.cpuMs - r.cpuMs;
    if (left <= 0) {
      this.#kill(new EdgefnError('ERR_CPU_LIMIT', `CPU time limit of ${this.fn.limits.cpuMs} ms exceeded`));
      return;
    }
    const outer = this.#current;
    const outerStart = this.#entryStart;
    // An entry made from inside another (a host callback that re-enters)
    // keeps the outer one's reading: the worker's code is still running.
    if (outer === undefined) this.#readClock(options.clockFloor);
    const outerHostMs = this.#hostMs;
    this.#hostMs = 0;
    this.#current = r;
    const start = (this.#entryStart = entryStart());
    let failure: EdgefnError | undefined;
    // isolated-vm's timeout is wall time in whole milliseconds: it is
    // stretched by this thread's recent share of a CPU (cpu-clock.ts), so
    // that preemption on a loaded machine does not stop an innocent entry,
    // while a loop still stops at about its budget of real CPU, and is
    // charged only what it really got.
    const timeout = entryTimeoutMs(left);
    entryBegin(timeout, this.fn.limits.memoryMb);
    try {
      const copy = options.copy ?? args.some(isObject);
      entry.applySync(undefined, args as never[], copy ? { arguments: { copy: true }, timeout } : { timeout });
    } catch (err) {
      failure = translateIsolateError(err);
    }
    entryEnd();
    // From the entry's start, or from the response head if it went out in this entry (#checkpoint).
    if (options.charge !== false) r.cpuMs += Math.max(0, entryCpuMs(this.#entryStart ?? start) - this.#hostMs);
    this.#current = outer;
    this.#entryStart = outerStart;
    this.#hostMs = outerHostMs;
    if (failure !== undefined) {
      if (failure.code === 'ERR_CPU_LIMIT') failure = new EdgefnError('ERR_CPU_LIMIT', `CPU time limit of ${this.fn.limits.cpuMs} ms exceeded`, { cause: failure });
      else if (failure.code === 'ERR_MEMORY_LIMIT') failure = new EdgefnError('ERR_MEMORY_LIMIT', `memory limit of ${this.fn.limits.memoryMb} MB exceeded`, { cause: failure });
      this.#kill(failure);
    } else if (this.#p.isolate.isDisposed) {
      this.#kill(new EdgefnError('ERR_MEMORY_LIMIT', `memory limit of ${this.fn.limits.memoryMb} MB exceeded`));
    }
    if (this.alive && this.#opState.has(WASM_IN_USE) && this.#overWasmBudget()) {
      this.#kill(new EdgefnError('ERR_MEMORY_LIMIT', `memory limit of ${this.fn.limits.memoryMb} MB exceeded (WebAssembly memory counted)`));
      return;
    }
    if (r.error !== undefined && this.#nearMemoryLimit()) {
      // The worker saw a failed allocation (RangeError) but isolated-vm kept
      // the isolate: the budget is spent all the same, so it goes.
      this.#kill(new EdgefnError('ERR_MEMORY_LIMIT', `memory limit of ${this.fn.limits.memoryMb} MB exceeded`));
      return;
    }
    for (const q of this.#requests.values()) {
      if (q.error === undefined) continue;
      const { err, log } = q.error;
      q.error = undefined;
      this.#hooks.log(this.fn, 'error', log, q.requestId);
      q.sink.fail(err, this.#timing(q));
    }
  }

  /**
   * Charge request r for its current entry so far and measure the rest of the
   * entry from here. Called at the response head: the Server-Timing cpu the
   * head carries is then exactly what the request had been charged, and the
   * final charge (done(), which usage metering records) is that plus what ran
   * after, never a second estimate of the same span.
   */
  #checkpoint(r: ActiveRequest): Timing {
    if (this.#current === r && this.#entryStart !== undefined) {
      r.cpuMs += Math.max(0, entryCpuMs(this.#entryStart) - this.#hostMs);
      this.#entryStart = entryStart();
      this.#hostMs = 0;
    }
    return { coldMs: r.coldMs, cpuMs: r.cpuMs };
  }

  /**
   * Run host work that happens inside an entry but is not the tenant's:
   * handing the response head and body to the socket (node:http's writes,
   * the report to the front door before the head). Its time is left out of
   * the request's CPU charge, so a request is charged the same whether its
   * response is written inside its entry or not, and the charge at the end
   * matches the Server-Timing cpu the head carried.
   */
  #hostWork(work: () => void): void {
    const t = performance.now();
    try {
      work();
    } finally {
      this.#hostMs += performance.now() - t;
    }
  }

  // ---- IsolateOwner: called synchronously from inside an entry. They never
  // re-enter the isolate; follow-up entries are queued as host microtasks. ----

  log(level: string, message: string, request: number): void {
    // Cut here, before the line travels to the front door: one console.log of
    // a huge string must not become a huge IPC message.
    const now = performance.now();
    this.#logTokens = Math.min(LOG_LINES_PER_SECOND, this.#logTokens + ((now - this.#logRefilled) * LOG_LINES_PER_SECOND) / 1000);
    this.#logRefilled = now;
    if (this.#logTokens < 1) {
      this.#logDropped++;
      return;
    }
    this.#logTokens--;
    if (this.#logDropped > 0) {
      this.#hooks.log(this.fn, 'warn', `edgefn dropped ${this.#logDropped} log lines: more than ${LOG_LINES_PER_SECOND} a second from one isolate`, undefined);
      this.#logDropped = 0;
    }
    const text = message.length > MAX_LOG_CHARS ? `${message.slice(0, MAX_LOG_CHARS)}… (${message.length - MAX_LOG_CHARS} more characters)` : message;
    // The line arrives after the entry that wrote it (an ignored callback), so
    // its request may have finished by now: recent ones are remembered.
    const requestId = this.#requests.get(request)?.requestId ?? this.#recentIds.get(request);
    this.#hooks.log(this.fn, level.length > 16 ? 'log' : level, text, requestId);
  }

  timer(id: number, delayMs: number, request: number): void {
    const old = this.#timers.get(id);
    if (old !== undefined) clearTimeout(old.handle);
    else if (this.#timers.size >= MAX_TIMERS) {
      // Host memory is not the tenant's to spend: past the cap a timer never fires.
      if (!this.#timerCapLogged) this.#hooks.log(this.fn, 'error', `more than ${MAX_TIMERS} timers pending in one isolate; further timers are dropped`, this.#current?.requestId);
      this.#timerCapLogged = true;
      return;
    }
    // timers.ts sends a clean delay; anything else (a worker that bent our
    // in-isolate code) is clamped as HTML clamps it.
    const delay = typeof delayMs === 'number' && delayMs > 0 ? Math.min(delayMs, MAX_TIMER_DELAY_MS) : 0;
    // Due from when the worker armed it (the entry's clock), not from when
    // this call arrived: the call comes after its entry, later under load.
    const due = { mono: this.#clockMono + delay, wall: this.#clockWall + Math.ceil(delay) };
    const handle = setTimeout(() => this.#fireTimers(due.mono), Math.max(0, due.mono - performance.now()));
    this.#timers.set(id, { handle, due, request });
  }

  /** A host timeout went off: every timer of this isolate due by then fires, in due order (due-timers.ts). */
  #fireTimers(upTo: number): void {
    for (const [id, t] of takeDueTimers(this.#timers, upTo)) {
      const r = this.#requests.get(t.request);
      if (r !== undefined) this.#enter(r, this.#entries.tick, [id], { clockFloor: t.due });
    }
  }

  clearTimer(id: number): void {
    const t = this.#timers.get(id);
    if (t !== undefined) clearTimeout(t.handle);
    this.#timers.delete(id);
  }

  emit(request: number, kind: string, a: unknown, b: unknown, c: unknown): boolean | undefined {
    const r = this.#requests.get(request);
    if (r === undefined) return undefined;
    switch (kind) {
      case 'head':
      case 'whole': {
        r.responded = true;
        // 'whole' is 'head' then 'done' (dispatch.ts): the request is over once this entry is.
        if (kind === 'whole') queueMicrotask(() => this.#finish(r));
        const head = checkResponseHead(a, typeof b === 'string' ? splitHeaderLines(b) : b, c);
        if (typeof head === 'string') {
          this.#hooks.log(this.fn, 'error', `edgefn refused the response: ${head}`, r.requestId);
          r.sink.fail(new EdgefnError('ERR_BAD_RESPONSE', `the worker produced an unusable response: ${head}`), this.#timing(r));
          return;
        }
        const timing = this.#checkpoint(r);
        this.#hostWork(() => r.sink.head(head.status, head.headers, head.body, timing));
        return;
      }
      case 'chunk':
        if (!(a instanceof Uint8Array)) {
          r.sink.fail(new EdgefnError('ERR_BAD_RESPONSE', 'the worker produced a response body chunk that is not bytes'), this.#timing(r));
          return true;
        }
        this.#hostWork(() => r.sink.chunk(a));
        // Flow control is decided here, synchronously: a worker can produce a
        // whole body inside one entry, long before a message from the front
        // door could arrive. Past the window the pump parks until acks come.
        r.unacked += a.byteLength;
        if (r.unacked <= RESPONSE_WINDOW_BYTES) return true;
        r.pumpParked = true;
        return false;
      case 'end':
        this.#hostWork(() => r.sink.end());
        return;
      case 'abort':
        r.sink.fail(new EdgefnError('ERR_EXCEPTION', `response body failed: ${String(a)}`), this.#timing(r));
        return;
      case 'error': {
        // Held until the entry returns: a failed ArrayBuffer allocation surfaces
        // in the worker as a RangeError it may not catch, but isolated-vm has
        // disposed the isolate for its memory limit, and that is the real cause.
        const code = a === 'bad-response' ? 'ERR_BAD_RESPONSE' : 'ERR_EXCEPTION';
        r.responded = true;
        r.error = { err: new EdgefnError(code, code === 'ERR_BAD_RESPONSE' ? String(b) : 'the worker threw an exception; see the function log'), log: String(b) };
        return;
      }
      case 'pull':
        // Asked from inside the entry in which the worker's read found the
        // stream empty: what is queued goes in right after this entry returns.
        if (r.body === undefined) return;
        r.body.want();
        if (r.body.deliverable) queueMicrotask(() => this.#feedBody(r));
        return;
      case 'body-cancel':
        this.#dropBody(r);
        return;
      case 'done':
        queueMicrotask(() => this.#finish(r));
        return;
      case 'upgrade':
        this.#upgrade(r, typeof a === 'string' ? splitHeaderLines(a) : []);
        return;
      case 'ws-send':
        if (r.upgraded === true && (typeof a === 'string' || a instanceof Uint8Array)) this.#hostWork(() => r.sink.socketSend?.(a));
        return;
      case 'ws-close':
        if (r.upgraded === true) this.#hostWork(() => r.sink.socketClose?.(Number(a), String(b ?? '')));
        return;
    }
  }

  /**
   * The worker answered r with a WebSocket. The request now lives as long as
   * the socket, under the connection's wall budget instead of the request's.
   */
  #upgrade(r: ActiveRequest, headers: string[]): void {
    r.responded = true;
    const timing = this.#checkpoint(r);
    if (r.sink.upgrade === undefined) {
      r.sink.fail(new EdgefnError('ERR_BAD_RESPONSE', 'the worker answered with a WebSocket (status 101), which only a WebSocket upgrade request can take'), timing);
    } else {
      let accepted = false;
      this.#hostWork(() => {
        accepted = r.sink.upgrade!(headers, timing, { messagesPerSecond: this.fn.limits.websocketMessagesPerSecond });
      });
      if (accepted) {
        r.upgraded = true;
        clearTimeout(r.wall);
        r.wall = setTimeout(() => this.#wallLimit(r), this.fn.limits.websocketWallMs);
        return;
      }
    }
    // Refused and answered by the sink: the worker's end closes as if the
    // connection dropped, which lets the request finish.
    queueMicrotask(() => {
      if (this.#requests.has(r.id)) this.#enter(r, this.#entries.socketEvent, [r.id, 'close', 1006, 'the WebSocket upgrade did not complete', false]);
    });
  }

  #opContext(r: ActiveRequest | undefined): OpContext {
    const self = this;
    return {
      fn: this.fn,
      isolate: this.#opState,
      get request() {
        if (r === undefined) return undefined;
        return (r.ops ??= new Map());
      },
      get signal() {
        if (r === undefined) return undefined;
        return (r.abort ??= new AbortController()).signal;
      },
      onDispose(cleanup) {
        self.#cleanups.push(cleanup);
      },
    };
  }

  call(callId: number, op: string, payload: unknown): void {
    const r = this.#current;
    const t0 = performance.now();
    let started: Promise<unknown>;
    try {
      started = this.#hooks.hostOp(op, payload, this.#opContext(r));
    } catch (err) {
      started = Promise.reject(err);
    }
    // Host computation for the tenant counts against its CPU budget: its
    // duration on the host's thread pool (an upper bound of its CPU time; for
    // ops in flight together, as many at once as the pool runs: see
    // host-work-meter.ts) is added before the result re-enters, and a request
    // past its budget is stopped there like any other.
    const charged = r !== undefined && CHARGED_OPS.has(op);
    if (charged) r.cpuMs += (r.hostWork ??= new HostWorkMeter()).start(t0);
    const charge = (): void => {
      if (charged && r?.hostWork !== undefined) r.cpuMs += r.hostWork.end(performance.now());
    };
    started.then(
      (value) => {
        charge();
        if (r === undefined || !this.#requests.has(r.id)) return;
        if (MESSAGE_OPS.has(op)) this.#socketBudget(r);
        this.#enter(r, this.#entries.settle, [callId, true, value]);
      },
      (err: unknown) => {
        charge();
        const e = err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
        if (r !== undefined && this.#requests.has(r.id)) this.#enter(r, this.#entries.settle, [callId, false, e]);
      },
    );
  }

  callSync(op: string, payload: unknown): unknown {
    if (op === LAZY_MODULE_OP) return this.#hooks.lazyModules.load(this.#p.isolate, this.#p.context, this.#entries.lazyModule, payload);
    const ctx = this.#opContext(this.#current);
    if (!UNCHARGED_SYNC_OPS.has(op)) return this.#hooks.hostOpSync(op, payload, ctx);
    // Left out of the entry's charge by its own CPU (not its wall time, which
    // on a loaded host would also take the tenant's preempted work with it).
    const start = entryStart();
    try {
      return this.#hooks.hostOpSync(op, payload, ctx);
    } finally {
      this.#hostMs += entryCpuMs(start);
    }
  }

  // ---- request life ----

  /**
   * Deliver from the check phase, never from inside pushBody. While the data
   * plane keeps pushing turn after turn (a socket yields a few 64 KB reads per
   * turn while the kernel holds more), wait a turn at a time until a batch is
   * full: each delivery is an entry the tenant pays for (the entry and the
   * streams library's read path, tens of µs; fed 100 MB as 512 KB batches, a
   * counting worker was charged 8-11 ms, as 1 MB batches 5-6 ms, measured
   * before request-body.ts's pacing). A turn without a push delivers what
   * there is, so a slow or paused sender adds no latency.
   */
  #scheduleBody(r: ActiveRequest): void {
    const body = r.body;
    if (body === undefined || body.scheduled) return;
    body.scheduled = true;
    setImmediate(() => {
      body.scheduled = false;
      if (body.filling()) this.#scheduleBody(r);
      else this.#feedBody(r);
    });
  }

  #feedBody(r: ActiveRequest): void {
    const body = r.body;
    if (body === undefined || !body.deliverable || !this.#requests.has(r.id)) return;
    // Taken (concatenated and detached for transfer) here, before #enter
    // starts the CPU clock: moving bytes is the platform's I/O, not the
    // tenant's CPU (see request-body.ts for the measurements).
    const { bytes, pacerElements, end } = body.take();
    // The data plane may read again while the worker works on this batch.
    if (body.roomAgain()) r.sink.pull?.();
    if (bytes !== null) {
      this.#enter(r, this.#entries.stageBody, [r.id, bytes, pacerElements], { charge: false, copy: false });
      if (!this.#requests.has(r.id)) return;
    }
    this.#enter(r, this.#entries.deliverBody, [r.id, end]);
  }

  /** The worker cancelled the body or the request is over: nothing more goes in, and a paused data plane may drain. */
  #dropBody(r: ActiveRequest): void {
    if (r.body === undefined) return;
    r.body.drop();
    if (r.body.roomAgain()) r.sink.pull?.();
  }

  #wallLimit(r: ActiveRequest): void {
    if (!this.#requests.has(r.id)) return;
    const err = new EdgefnError('ERR_WALL_LIMIT', r.upgraded === true ? `WebSocket wall time limit of ${this.fn.limits.websocketWallMs} ms exceeded` : `wall time limit of ${this.fn.limits.wallMs} ms exceeded`);
    r.sink.fail(err, this.#timing(r));
    this.#enter(r, this.#entries.cancel, [r.id, err.message]);
    this.#finish(r);
  }

  #finish(r: ActiveRequest): void {
    if (!this.#requests.delete(r.id)) return;
    this.#remember(r);
    clearTimeout(r.wall);
    this.#dropBody(r);
    r.abort?.abort(new EdgefnError('ERR_CLOSED', 'the request ended'));
    r.sink.done?.({ coldMs: r.coldMs, cpuMs: this.#totalCpuMs(r), subrequests: subrequestsOf(r) });
    if (this.#state === 'retiring' && this.#requests.size === 0) this.#die();
  }

  #remember(r: ActiveRequest): void {
    if (r.requestId === undefined) return;
    this.#recentIds.set(r.id, r.requestId);
    if (this.#recentIds.size > RECENT_IDS) this.#recentIds.delete(this.#recentIds.keys().next().value!);
  }

  /** A budget was blown or the isolate broke: every request on it fails, and it is never reused. */
  #kill(err: EdgefnError): void {
    if (this.#state === 'dead') return;
    const requests = [...this.#requests.values()];
    this.#die();
    for (const r of requests) {
      this.#remember(r);
      clearTimeout(r.wall);
      this.#dropBody(r);
      r.abort?.abort(err);
      r.sink.fail(err, { coldMs: r.coldMs, cpuMs: r.cpuMs });
      r.sink.done?.({ coldMs: r.coldMs, cpuMs: this.#totalCpuMs(r), subrequests: subrequestsOf(r) });
    }
  }

  #die(): void {
    if (this.#state === 'dead') return;
    this.#state = 'dead';
    for (const t of this.#timers.values()) clearTimeout(t.handle);
    this.#timers.clear();
    this.#requests.clear();
    for (const c of this.#cleanups.splice(0)) {
      try {
        c();
      } catch {
        // cleanup must not stop the others
      }
    }
    this.#opState.clear();
    disposePrepared(this.#p);
    this.#hooks.gone(this);
  }

  /** Evicted from the live set: finish what is in flight, then go. */
  retire(): void {
    if (this.#state !== 'live') return;
    this.#state = 'retiring';
    if (this.#requests.size === 0) this.#die();
  }

  /** Immediately: in-flight requests fail with `err`. */
  destroy(err: EdgefnError): void {
    this.#kill(err);
  }
}
