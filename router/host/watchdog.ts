// A worker thread inside each isolate-host process that ends the process when
// the main thread is stuck in an isolate that isolated-vm could not stop (see
// runtime/entry-watch.ts), or when the process's resident memory passes a hard
// cap. It has to be a thread: the main thread is the one that is stuck. It
// exits the process with SIGUSR2 so the supervisor can say why the host went.

import { writeSync } from 'node:fs';
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { SLOT_WAITING } from './connections.ts';
import { fileURLToPath } from 'node:url';

export interface WatchdogOptions {
  buffer: SharedArrayBuffer;
  base: number;
  /** How long past an entry's deadline the main thread may still be inside it, in ms. */
  graceMs: number;
  /** Resident memory at which the process is ended at once, in bytes. */
  hardRssBytes: number;
  /** How often to look, in ms. */
  intervalMs: number;
  /** The host's connection table (connections.ts): [fd, state] per slot. */
  connections: SharedArrayBuffer;
  /** What a request still waiting for its response is answered with when the process is ended (a whole HTTP response). */
  answer: string;
  /**
   * Where to say that the main thread has been inside one isolate entry for
   * blockedMs ("b <entry>\n") and, later, that it left it ("u <entry>\n"):
   * a pipe to the front door, which places new connections away from a
   * blocked host. Undefined: not reported.
   */
  blockedFd?: number | undefined;
  blockedMs?: number;
  /**
   * The front door's pid. When this process's parent is no longer it (the
   * front door died and the host was re-parented), the host is ended after
   * ORPHAN_GRACE_MS, whatever its main thread is doing: that thread is meant
   * to exit on the IPC channel's disconnect, but it cannot while inside a
   * long entry. (A hang inside Node's exit teardown, after it has stopped
   * this thread, is avoided in main.ts: the host kills itself instead.)
   */
  parentPid?: number | undefined;
}

/** How long an orphaned host may take to end on its own before it is killed (ms). */
export const ORPHAN_GRACE_MS = 2000;

/** How often the watchdog looks at the current entry for the blocked report (ms). */
const BLOCKED_CHECK_MS = 10;

/**
 * The main thread is stuck, so nothing there will ever answer the requests it
 * holds. Their sockets are written to directly (they are non-blocking; a
 * small response fits the socket buffer) before the process ends. The front
 * door, seeing the watchdog's exit signal, then only closes its descriptors.
 */
function answerWaiting(o: WatchdogOptions): void {
  const table = new Int32Array(o.connections);
  const bytes = Buffer.from(o.answer);
  for (let i = 0; i < table.length; i += 2) {
    const fd = Atomics.load(table, i);
    if (fd < 0 || Atomics.load(table, i + 1) !== SLOT_WAITING) continue;
    try {
      writeSync(fd, bytes);
    } catch {
      // the client went away
    }
  }
}

/** The signal the watchdog ends its process with. */
export const WATCHDOG_SIGNAL = 'SIGUSR2';

export function startWatchdog(options: WatchdogOptions): Worker {
  const w = new Worker(fileURLToPath(import.meta.url), { workerData: options });
  w.unref();
  return w;
}

/**
 * Tell the front door, on its own pipe, when the main thread has spent
 * blockedMs inside one entry and when it comes out. The main thread cannot
 * say so itself (it is the one inside the entry), and the front door cannot
 * tell a host in a long entry from one that is merely not scheduled on a
 * loaded machine: this thread sees the entry itself.
 */
function reportBlocked(o: WatchdogOptions, fd: number, blockedMs: number): void {
  const state = new Int32Array(o.buffer);
  let reported = 0;
  const say = (line: string) => {
    try {
      writeSync(fd, line);
    } catch {
      // The front door went away; the process is ending.
    }
  };
  setInterval(() => {
    const deadline = Atomics.load(state, 0);
    const seq = Atomics.load(state, 1);
    if (reported !== 0 && (deadline === 0 || seq !== reported)) {
      say(`u ${reported}\n`);
      reported = 0;
    }
    if (reported === 0 && deadline !== 0 && Number(process.hrtime.bigint() / 1_000_000n) - o.base - Atomics.load(state, 3) >= blockedMs && Atomics.load(state, 1) === seq) {
      say(`b ${seq}\n`);
      reported = seq;
    }
  }, BLOCKED_CHECK_MS);
}

function watch(o: WatchdogOptions): void {
  if (o.blockedFd !== undefined) reportBlocked(o, o.blockedFd, o.blockedMs ?? 100);
  const state = new Int32Array(o.buffer);
  let seenEntry = 0;
  let rssAtEntry = 0;
  let orphanedAt = 0;
  setInterval(() => {
    // runtime/entry-watch.ts's clock (CLOCK_MONOTONIC, shared by threads), which a wall-clock step does not move.
    const mono = Number(process.hrtime.bigint() / 1_000_000n);
    // process.ppid is read afresh here (in a worker thread; the main thread's is not).
    if (o.parentPid !== undefined && process.ppid !== o.parentPid) {
      if (orphanedAt === 0) orphanedAt = mono;
      else if (mono - orphanedAt >= ORPHAN_GRACE_MS) {
        process.stderr.write(`edgefn isolate host ${process.pid}: the front door (pid ${o.parentPid}) is gone and this host did not end within ${ORPHAN_GRACE_MS} ms; killing it\n`);
        process.kill(process.pid, 'SIGKILL');
      }
    }
    const deadline = Atomics.load(state, 0);
    const now = mono - o.base;
    const rss = process.memoryUsage.rss();
    let why: string | undefined;
    if (deadline !== 0 && now > deadline + o.graceMs) why = `an isolate entry ran ${now - deadline} ms past its deadline and could not be stopped`;
    if (deadline !== 0) {
      // One isolate cannot legitimately grow the process by much more than its
      // own memory limit; when it does, isolated-vm's limit has failed.
      const seq = Atomics.load(state, 1);
      if (seq !== seenEntry) {
        seenEntry = seq;
        rssAtEntry = rss;
      } else {
        const limit = Atomics.load(state, 2) * 1048576;
        if (rss - rssAtEntry > 2 * limit + 256 * 1048576) why = `one isolate entry grew the process by ${Math.round((rss - rssAtEntry) / 1048576)} MB, far past its ${Math.round(limit / 1048576)} MB memory limit`;
      }
    }
    if (rss > o.hardRssBytes) why = `resident memory ${Math.round(rss / 1048576)} MB passed the hard cap of ${Math.round(o.hardRssBytes / 1048576)} MB`;
    if (why !== undefined) {
      process.stderr.write(`edgefn isolate host ${process.pid}: ${why}; ending the process\n`);
      answerWaiting(o);
      process.kill(process.pid, WATCHDOG_SIGNAL);
    }
  }, o.intervalMs);
}

if (!isMainThread && workerData !== null && typeof workerData === 'object' && 'buffer' in workerData) watch(workerData as WatchdogOptions);
