// The CPU guard of synchronous isolate entries, one per process, instead of
// isolated-vm's per-call `timeout`.
//
// isolated-vm's `timeout` makes a timer for every call (a heap push under a
// process-wide mutex) and its timer thread wakes when each one expires,
// finished or not: at a few thousand requests a second that was a thread
// wake per request, ~21 µs of a host's CPU per warm hello request over HTTP
// (perf, one host under 16 connections: 14 % of its CPU), and ~3 µs on the
// calling thread (a warm hello request in-process 15.9-16.6 µs with it,
// 12.0-13.2 without).
//
// Instead, the entry's deadline goes into shared memory, and a guard — a small
// isolate of its own running a loop on one of isolated-vm's pool threads, so
// it runs while this thread is stuck inside an entry — disposes an isolate
// whose entry is still running past its deadline. The guard sleeps until the
// deadline of the entry it last saw armed, or for IDLE_AFTER_MS when it saw
// none, and then looks again; an entry armed with a deadline earlier than the
// guard's wake-up (a request with little budget left) wakes it (a futex
// wake), and so does the first entry after a quiet spell, in which the guard
// sleeps until woken. Under a steady stream of short entries the guard wakes
// about every 50 ms; arming and disarming an entry are a few shared-memory
// operations.
//
// The guard holds a handle of each isolate it may have to stop (isolated-vm
// isolate handles are transferable; `dispose()` works from any thread, and
// the entry running on this thread then throws "Isolate was disposed during
// execution"). A handle goes in by a call into the guard isolate, which runs
// only between its loops: the loop is asked to return, the registration runs,
// then the next loop, all queued on the guard isolate in that order, so the
// guard never depends on this thread to start looking again. An entry into an
// isolate the guard does not hold yet (a pool isolate just made) carries
// isolated-vm's own timeout instead.

import ivm from 'isolated-vm';

/** How long the guard sleeps when it saw no entry armed but entries have come since it last looked (ms). */
const IDLE_AFTER_MS = 50;

// Int32 slots of the shared state; the deadline is a Float64 after them.
//
// ARMED says whether an entry is armed, and who decides its end: 0 none, a
// positive number the armed entry's sequence number, CLAIMED once the guard
// has taken it to dispose. The host writes TARGET and the deadline only while
// ARMED is 0, then stores the entry's number; the guard reads ARMED, the
// fields, and ARMED again (the same number: the fields are that entry's).
// Both sides end an armed entry by compare-and-swap on ARMED: the host
// disarming (number → 0) and the guard claiming (number → CLAIMED). Exactly
// one wins, so an entry that ends just as its deadline passes is either left
// alone or known to the host as stopped: an isolate is never disposed behind
// the host's back after its entry returned.
const WAKE = 0; // futex word the guard sleeps on
const MODE = 1; // 0 looking, 1 asleep until SLEEP_UNTIL or woken
const ARMED = 2;
const TARGET = 3; // guard id of the isolate whose entry is armed
const STOP = 4; // 1: the loop ends for good
const YIELD = 5; // loops asked to return so that the calls queued behind them run
const LAST = 6; // the number of the entry armed last (the guard tells a quiet spell by it)
const INTS = 8;
// Float64s after the Int32s: the armed entry's deadline, and when the guard
// will wake on its own (Infinity: only when woken), both on performance.now().
const DEADLINE = 4;
const SLEEP_UNTIL = 5;
const CLAIMED = -1;

// Runs inside the guard isolate. `targets` maps guard ids to isolate handles.
//
// Its clock: the guard isolate has no monotonic clock of its own (Date.now()
// is the wall clock, which a clock step moves by hours), but isolated-vm
// keeps every isolate's wall time on the monotonic clock while it runs, and
// the guard's own isolate runs for the whole loop. So "now" is the host's
// performance.now() when the loop was called (t0) plus how far the guard's
// own wall time has moved since the loop began (a loop started late, behind
// other calls, only reads a little early: a deadline is never fired early).
const GUARD_SOURCE = `
const targets = new Map();
function register(id, isolate) { targets.set(id, isolate); }
function forget(id) { targets.delete(id); }
function loop(shared, idleAfterMs, self, t0) {
  const i32 = new Int32Array(shared);
  const f64 = new Float64Array(shared);
  const w0 = self.wallTime;
  const now = () => t0 + Number(self.wallTime - w0) / 1e6;
  let last = Atomics.load(i32, ${LAST});
  for (;;) {
    if (Atomics.load(i32, ${STOP}) !== 0) return 'stop';
    const yields = Atomics.load(i32, ${YIELD});
    if (yields > 0 && Atomics.compareExchange(i32, ${YIELD}, yields, yields - 1) === yields) return 'yield';
    const armed = Atomics.load(i32, ${ARMED});
    const target = Atomics.load(i32, ${TARGET});
    const deadline = f64[${DEADLINE}];
    const t = now();
    if (armed > 0 && Atomics.load(i32, ${ARMED}) === armed && t > deadline) {
      if (Atomics.compareExchange(i32, ${ARMED}, armed, ${CLAIMED}) === armed) {
        const isolate = targets.get(target);
        targets.delete(target);
        try { isolate?.dispose(); } catch {}
      }
      continue;
    }
    // Until the armed entry's deadline; without one, a while if entries
    // came since the last look, else until the next entry wakes us.
    const seen = Atomics.load(i32, ${LAST});
    const until = armed > 0 ? deadline : armed === ${CLAIMED} ? t + 1 : seen !== last ? t + idleAfterMs : Infinity;
    last = seen;
    f64[${SLEEP_UNTIL}] = until;
    Atomics.store(i32, ${MODE}, 1);
    // An entry armed after MODE was set sees it (and wakes us if it must);
    // one armed before is seen here.
    if (Atomics.load(i32, ${ARMED}) === armed && Atomics.load(i32, ${STOP}) === 0 && Atomics.load(i32, ${YIELD}) === 0) {
      Atomics.wait(i32, ${WAKE}, 0, until === Infinity ? Infinity : Math.max(0, until - t));
    }
    Atomics.store(i32, ${MODE}, 0);
    Atomics.store(i32, ${WAKE}, 0);
  }
}
`;

type Fn = ivm.Reference<(...args: unknown[]) => unknown>;

/** An armed entry that another entry interrupted (a host call inside it entered an isolate). */
interface Outer {
  armed: number;
  target: number;
  deadline: number;
}

class Guard {
  readonly #isolate = new ivm.Isolate({ memoryLimit: 16 });
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #shared: SharedArrayBuffer;
  readonly #register: Fn;
  readonly #forget: Fn;
  readonly #loop: Fn;
  #nextId = 0;
  #seq = 0;
  /** The number of the entry this thread armed last, 0 none. */
  #current = 0;
  readonly #outer: Outer[] = [];
  #stopped = false;
  /** Registrations and forgets not yet queued on the guard isolate. */
  #pending: Array<() => Promise<unknown>> = [];
  #flushQueued = false;
  /** A failure of the guard isolate itself: every entry falls back to isolated-vm's timeout. */
  broken = false;

  constructor() {
    this.#shared = new SharedArrayBuffer(INTS * 4 + 16);
    this.#i32 = new Int32Array(this.#shared);
    this.#f64 = new Float64Array(this.#shared);
    const context = this.#isolate.createContextSync();
    this.#isolate.compileScriptSync(GUARD_SOURCE).runSync(context);
    const get = (name: string) => context.global.getSync(name, { reference: true }) as Fn;
    this.#register = get('register');
    this.#forget = get('forget');
    this.#loop = get('loop');
    this.#startLoop();
  }

  #startLoop(): void {
    if (this.#stopped) return;
    const shared = new ivm.ExternalCopy(this.#shared).copyInto({ release: true });
    this.#loop.apply(undefined, [shared, IDLE_AFTER_MS, this.#isolate, performance.now()]).then(
      (why) => {
        // A 'yield' is followed by the loop queued with the registrations (#flush).
        if (why === 'stop') this.#isolate.dispose();
      },
      () => {
        this.broken = true;
      },
    );
  }

  /** Hand the guard `isolate`; resolves with its guard id once the guard holds it. */
  register(isolate: ivm.Isolate): Promise<number> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.push(() => this.#register.apply(undefined, [id, isolate]).then(() => resolve(id), reject));
      this.#queueFlush();
    });
  }

  forget(id: number): void {
    this.#pending.push(() => this.#forget.apply(undefined, [id]));
    this.#queueFlush();
  }

  #queueFlush(): void {
    if (this.#flushQueued || this.#stopped) return;
    this.#flushQueued = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#stopped || this.#pending.length === 0) return;
    // Queued on the guard isolate behind the running loop, then the loop
    // again; the running one is asked to return so that they run. The asks
    // are counted: a second flush before the first loop returned must make
    // the loop that follows the first batch return as well.
    for (const call of this.#pending.splice(0)) call().catch(() => {});
    this.#startLoop();
    Atomics.add(this.#i32, YIELD, 1);
    if (Atomics.load(this.#i32, MODE) === 1) this.#wake();
  }

  #wake(): void {
    Atomics.store(this.#i32, WAKE, 1);
    Atomics.notify(this.#i32, WAKE);
  }

  /** A new entry number (positive; they wrap long after any entry could still be armed). */
  #next(): number {
    this.#seq = this.#seq >= 0x7ffffffe ? 1 : this.#seq + 1;
    return this.#seq;
  }

  /** An entry into the isolate with guard id `id` begins; it must not run past `timeoutMs` from now (nor past an entry it is nested in). */
  arm(id: number, timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs;
    // Take the entry this one interrupts (if any) away from the guard while
    // this one runs; one the guard already claimed stays claimed.
    const outer = this.#current === 0 ? 0 : Atomics.exchange(this.#i32, ARMED, 0);
    if (this.#current !== 0) this.#outer.push({ armed: outer, target: this.#i32[TARGET]!, deadline: this.#f64[DEADLINE]! });
    this.#i32[TARGET] = id;
    this.#f64[DEADLINE] = outer > 0 ? Math.min(this.#f64[DEADLINE]!, deadline) : deadline;
    this.#publish();
  }

  /** Arm TARGET and DEADLINE as written, under a new number. */
  #publish(): void {
    this.#current = this.#next();
    Atomics.store(this.#i32, LAST, this.#current);
    Atomics.store(this.#i32, ARMED, this.#current);
    // A guard asleep past this deadline must look sooner.
    if (Atomics.load(this.#i32, MODE) === 1 && this.#f64[DEADLINE]! < this.#f64[SLEEP_UNTIL]!) this.#wake();
  }

  /**
   * The armed entry (and every entry it is nested in) may run `ms` longer:
   * host work done inside it that is not the tenant's.
   */
  extend(ms: number): void {
    for (const o of this.#outer) o.deadline += ms;
    if (this.#current <= 0) return;
    if (Atomics.compareExchange(this.#i32, ARMED, this.#current, 0) !== this.#current) return;
    this.#f64[DEADLINE] = this.#f64[DEADLINE]! + ms;
    // Under a new number: a guard that read the old deadline cannot claim the entry by it.
    this.#publish();
  }

  /**
   * The entry is over: the guard goes back to the one it interrupted, if
   * any. Returns whether the guard took this entry first, for running past
   * its deadline: its isolate is disposed (or about to be), whatever the
   * entry returned.
   */
  disarm(): boolean {
    const was = Atomics.compareExchange(this.#i32, ARMED, this.#current, 0);
    const stopped = was === CLAIMED;
    if (was !== this.#current) Atomics.store(this.#i32, ARMED, 0);
    const o = this.#outer.pop();
    if (o === undefined) {
      this.#current = 0;
    } else {
      this.#i32[TARGET] = o.target;
      this.#f64[DEADLINE] = o.deadline;
      if (o.armed > 0) this.#publish();
      else {
        // Claimed while this one ran: it stays the guard's.
        this.#current = o.armed;
        if (o.armed === CLAIMED) Atomics.store(this.#i32, ARMED, CLAIMED);
      }
    }
    return stopped;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    Atomics.store(this.#i32, STOP, 1);
    this.#wake();
  }
}

let guard: Guard | undefined;
let users = 0;
let exitHooked = false;

/** The process's guard while a Runtime holds it (acquireEntryGuard), else undefined. */
export function entryGuard(): Guard | undefined {
  return guard === undefined || guard.broken ? undefined : guard;
}

/** The process's guard, started by its first user (a Runtime); stopped when the last one lets go. */
export function acquireEntryGuard(): EntryGuard {
  if (guard === undefined) {
    guard = new Guard();
    // A process that exits with the loop still running waits for it in its
    // teardown (isolated-vm joins its pool threads), for ever.
    if (!exitHooked) process.once('exit', () => guard?.stop());
    exitHooked = true;
  }
  users++;
  return guard;
}

export function releaseEntryGuard(): void {
  if (--users > 0 || guard === undefined) return;
  guard.stop();
  guard = undefined;
}

export type EntryGuard = Guard;
