// CPU time of isolate entries, in milliseconds.
//
// Tenants are charged for what their code actually ran on a CPU. Node offers
// process.threadCpuUsage(), but that is getrusage(RUSAGE_THREAD), which Linux
// updates at scheduler ticks (4 ms here: a 0.1 ms request read as 4 ms), and
// /proc's sum_exec_runtime is just as stale for the running thread. What *is*
// exact is the wall clock plus the scheduler's run_delay (second field of
// /proc/thread-self/schedstat: nanoseconds spent runnable but waiting for a
// CPU, settled at every context switch). An isolate entry is synchronous code
// on the main thread that never sleeps, so
//     CPU during the entry = wall time − time spent preempted.
// Measured with three other processes spinning on 2 cores: 100 ms of wall
// read 50.3 ms this way, against 50.4 ms from the kernel's own account.
//
// Reading schedstat is a syscall (0.6 µs idle, ~5 µs under load here; three
// per request cost 30 % of a host's CPU at 17k requests/s), so reads are
// rationed: the starting run_delay is shared by the entries that start within
// 0.1 ms of each other (the marks below), and taken per entry only while
// entries are long lately; the ending one is read only for entries that ran
// at least LONG_ENTRY_MS, the only ones a preemption can noticeably distort.
// A short entry is charged its wall time.

import { openSync, readSync } from 'node:fs';

const buf = Buffer.alloc(96);
let fd: number | undefined;
try {
  fd = openSync('/proc/thread-self/schedstat', 'r');
} catch {
  fd = undefined;
}

/** Entries shorter than this are charged their wall time (ms). */
const LONG_ENTRY_MS = 0.5;

/** A schedstat file's first two fields (ns run, ns waited runnable: run_delay), both in ms. */
function parseSchedstat(text: Buffer, n: number): [number, number] {
  let ran = 0;
  let delay = 0;
  for (let i = 0, field = 0; i < n && field < 2; i++) {
    const c = text[i]!;
    if (c < 48 || c > 57) field++;
    else if (field === 0) ran = ran * 10 + (c - 48);
    else delay = delay * 10 + (c - 48);
  }
  return [ran / 1e6, delay / 1e6];
}

/** This thread's schedstat: [run time, run_delay], both in ms. */
function readSchedstat(f: number): [number, number] {
  return parseSchedstat(buf, readSync(f, buf, 0, buf.length, 0));
}

function runDelayMs(f: number): number {
  const [ran, delay] = readSchedstat(f);
  noteShare(ran, delay);
  return delay;
}

// How much of the time this thread wanted a CPU it lately got one: run time
// over (run time + run_delay), per window of at least SHARE_WINDOW_MS of
// either, smoothed. 1 on an idle machine; about 0.5 with as many busy
// threads again as cores. Idle time (waiting for I/O) counts as neither.
const SHARE_WINDOW_MS = 50;
let share = 1;
let windowRan = -1;
let windowDelay = 0;
function noteShare(ran: number, delay: number): void {
  if (windowRan < 0) {
    windowRan = ran;
    windowDelay = delay;
    return;
  }
  const r = ran - windowRan;
  const d = delay - windowDelay;
  if (r + d < SHARE_WINDOW_MS) return;
  share = 0.5 * share + 0.5 * (r / (r + d));
  windowRan = ran;
  windowDelay = delay;
}

/** The stretch of a wall-clock guard never goes past this (1 / share). */
const MAX_STRETCH = 2.5;

/**
 * The wall-clock timeout for an entry that may use `cpuMs` more of CPU.
 * isolated-vm's `timeout` counts wall time, and a thread that waits for a
 * CPU half the time would have an innocent 50 µs entry killed whenever one
 * preemption outlasted the budget (seen: a hello-world isolate lost on a
 * loaded machine). So the guard is stretched by the thread's recent share
 * of a CPU: exact on an idle machine, and under contention a loop still
 * stops at about its budget of real CPU, charged what it really ran.
 */
export function entryTimeoutMs(cpuMs: number): number {
  return Math.ceil(cpuMs * Math.min(MAX_STRETCH, 1 / share));
}

// The run_delay readings ("marks"): one is taken when an entry starts and the
// last is older than MARK_FRESH_MS, so entries share a reading (a syscall)
// while their turn is short. A long entry's preemption is bounded below by
// assuming all delay since its mark may have fallen before the entry began, so
// an old mark over-charges: measured on a loaded host (load average 3), a 100
// MB upload's delivery entries, each right after the uncharged entry that
// copies its batch in, were charged 2-6x their real CPU with one mark per
// turn (3.6 ms for 1.1 ms, 9.4 ms for 1.5 ms).
// An entry is measured from the last mark taken before it began: a mark an
// entry nested in it took later says nothing about the delay before it.
//
// Only long entries use their mark, so marks are taken per entry only while
// entries are long lately (one ran that much CPU in the last LONG_RECENT_MS).
// While every entry is short (a stream of small requests: one read each was
// ~5 % of a busy host's CPU), a mark is taken at most every SHARE_READ_MS,
// which keeps the CPU share (above) current and leaves the first long entry
// after such a spell a mark at most that old (its charge then an upper bound
// that much looser).
const MARK_FRESH_MS = 0.1;
const LONG_RECENT_MS = 100;
const SHARE_READ_MS = 10;
let lastLongAt = -Infinity;
/** [wall, delay, wall, delay, …], oldest first: this turn's marks after the last one of earlier turns. */
const marks: number[] = [];
const invalidate = () => {
  if (marks.length > 2) marks.splice(0, marks.length - 2);
  invalidating = false;
};
let invalidating = false;

/** Call at the start of an entry; pass the result to entryCpuMs. */
export function entryStart(): number {
  if (fd === undefined) {
    const u = process.threadCpuUsage();
    return (u.user + u.system) / 1000;
  }
  const now = performance.now();
  const age = marks.length === 0 ? Infinity : now - marks[marks.length - 2]!;
  if (age > (now - lastLongAt < LONG_RECENT_MS ? MARK_FRESH_MS : SHARE_READ_MS)) {
    const delay = runDelayMs(fd);
    if (!invalidating) {
      invalidating = true;
      setImmediate(invalidate).unref();
    }
    // The entry starts after its own mark, so that its mark is the one in force.
    const at = performance.now();
    marks.push(at, delay);
    return at;
  }
  return now;
}

/** CPU milliseconds used since `start` (from entryStart), by this thread. */
export function entryCpuMs(start: number): number {
  if (fd === undefined) {
    const u = process.threadCpuUsage();
    return (u.user + u.system) / 1000 - start;
  }
  const now = performance.now();
  const wall = now - start;
  if (wall < LONG_ENTRY_MS) return wall;
  // The mark in force when the entry began (the last one taken before it).
  let m = marks.length - 2;
  while (m > 0 && marks[m]! > start) m -= 2;
  // Delay accrued since that mark, less the most of it that can have fallen
  // before this entry began: a lower bound on the preemption inside the
  // entry, so the charge is an upper bound of the entry's CPU.
  const preempted = m < 0 ? 0 : runDelayMs(fd) - marks[m + 1]! - Math.max(0, start - marks[m]!);
  const cpu = preempted > 0 ? Math.max(0, wall - preempted) : wall;
  // Long by what it ran, not by its wall time: a short entry preempted on a
  // loaded machine does not make every entry take a reading.
  if (cpu >= LONG_ENTRY_MS) lastLongAt = now;
  return cpu;
}
