// What a watchdog thread needs to see from outside the main thread: whether an
// isolate entry is running, and by when its `timeout` should have stopped it.
//
// isolated-vm cannot always stop an isolate: some allocation patterns leave V8
// stuck near its heap limit, where neither `timeout` nor `memoryLimit` takes
// effect (isolated-vm #107, #198; measured here: `keep.push(new Array(4096)
// .fill(i))` at a 128 MB limit grew the process past 6 GB). The main thread is
// then blocked inside the entry, so only another thread can notice. The state
// lives in a SharedArrayBuffer that a watchdog worker (router/host/watchdog.ts)
// reads; writing it costs two Atomics stores per entry.

/**
 * Milliseconds of CLOCK_MONOTONIC (process.hrtime): one clock for every
 * thread and process of the machine, which a wall-clock step does not move.
 * Date.now() here made a clock stepped forward look like an entry overrunning
 * its deadline (the watchdog ended a healthy host), and one stepped back hid a
 * stuck entry.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** Milliseconds since BASE (monotonicMs), so deadlines fit an Int32 (24 days). */
const BASE = monotonicMs();
const state = new Int32Array(new SharedArrayBuffer(16));

/**
 * The buffer to hand a watchdog: [0] = entry deadline (ms since base, 0 when
 * idle), [1] = entry sequence number, [2] = the entered isolate's memory limit
 * in MB, [3] = when the entry began (ms since base).
 */
export function entryWatchBuffer(): { buffer: SharedArrayBuffer; base: number } {
  return { buffer: state.buffer as SharedArrayBuffer, base: BASE };
}

let longEntry: { thresholdMs: number; notify(deadline: number): void } | undefined;

/**
 * Call `notify(deadline)` (monotonicMs) before every entry that may run longer
 * than `thresholdMs`. The host process tells its supervisor, whose hang check
 * (no answer to pings while the main thread is inside the entry) must not end
 * the host before this process's own watchdog has had its say: the watchdog
 * answers the requests the host holds before it ends it, a kill from outside
 * drops them.
 */
export function onLongEntry(thresholdMs: number, notify: (deadline: number) => void): void {
  longEntry = { thresholdMs, notify };
}

export function entryBegin(timeoutMs: number, memoryMb: number): void {
  const now = monotonicMs();
  if (longEntry !== undefined && timeoutMs > longEntry.thresholdMs) longEntry.notify(now + Math.ceil(timeoutMs));
  Atomics.store(state, 2, memoryMb);
  Atomics.store(state, 3, now - BASE);
  Atomics.add(state, 1, 1);
  Atomics.store(state, 0, now - BASE + Math.ceil(timeoutMs) + 1);
}

export function entryEnd(): void {
  Atomics.store(state, 0, 0);
}
