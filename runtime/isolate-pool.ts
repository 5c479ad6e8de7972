// Isolates created ahead of demand, so a function that has never run skips
// isolate creation (~2.5–4 ms, docs/isolated-vm.md §1) on its first request.
// Refilling happens one isolate per event-loop turn, off the request path.

import { EdgefnError } from './errors.ts';
import { disposePrepared, prepareIsolate, prepareIsolateAsync, type PreparedIsolate } from './prepared-isolate.ts';
import type { Prelude } from './prelude.ts';
import type { SnapshotResult } from './snapshot.ts';

/** How long the host must have been without a new request before a low pool refills, in ms. */
const IDLE_MS = 2;
/**
 * ...and before a pool still above LOW_WATER of its size refills: a deep pool
 * absorbs a burst of never-run functions without any refill landing between
 * its requests (each blocks this thread for milliseconds), and catches up
 * once traffic pauses.
 */
const RELAXED_IDLE_MS = 50;
const LOW_WATER = 0.25;
/** After this long without a request, a refill runs on this thread (ms). */
const QUIET_SYNC_MS = 20;

export interface IsolatePoolOptions {
  snapshot: SnapshotResult;
  prelude: Prelude;
  /** Prepared isolates kept ready at the default memory limit. Default 8. */
  size?: number;
  /** Memory limit of pooled isolates, in MB. Default 128. */
  memoryMb?: number;
}

export class IsolatePool {
  readonly #snapshot: SnapshotResult;
  readonly #prelude: Prelude;
  readonly #size: number;
  readonly #memoryMb: number;
  // Functions with a non-default memory limit get their own small queue, kept
  // topped up to one once that size has been asked for.
  readonly #queues = new Map<number, PreparedIsolate[]>();
  #refillScheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  #lastActivity = -Infinity;
  /** When the last refill finished blocking this thread (performance.now()). */
  #lastRefill = -Infinity;
  #refilling = false;
  #closed = false;
  /** Isolates handed out that had to be created on the request path. */
  misses = 0;

  constructor(options: IsolatePoolOptions) {
    const size = options.size ?? 8;
    if (!Number.isInteger(size) || size < 0) throw new EdgefnError('ERR_INVALID_INPUT', `pool size must be a non-negative integer, got ${size}`);
    this.#snapshot = options.snapshot;
    this.#prelude = options.prelude;
    this.#size = size;
    this.#memoryMb = options.memoryMb ?? 128;
    this.#queues.set(this.#memoryMb, []);
    this.#scheduleRefill();
  }

  get ready(): number {
    return this.#queues.get(this.#memoryMb)?.length ?? 0;
  }

  /** Fill the default queue now (blocking); for start-up, so the first requests find isolates. */
  fillSync(): void {
    while (!this.#closed && this.#refillOne()) {}
  }

  take(memoryMb: number): PreparedIsolate {
    if (this.#closed) throw new EdgefnError('ERR_CLOSED', 'isolate pool is closed');
    let q = this.#queues.get(memoryMb);
    if (q === undefined) this.#queues.set(memoryMb, (q = []));
    const p = q.pop();
    this.#scheduleRefill();
    if (p !== undefined) return p;
    this.misses++;
    return prepareIsolate(this.#snapshot, this.#prelude, memoryMb);
  }

  #target(memoryMb: number): number {
    return memoryMb === this.#memoryMb ? this.#size : Math.min(1, this.#size);
  }

  /** The memory size of a queue below its target, if any. */
  #deficit(): number | undefined {
    for (const [mb, q] of this.#queues) if (q.length < this.#target(mb)) return mb;
    return undefined;
  }

  #refillOne(): boolean {
    const mb = this.#deficit();
    if (mb === undefined) return false;
    this.#queues.get(mb)!.push(prepareIsolate(this.#snapshot, this.#prelude, mb));
    return true;
  }

  /** One background refill at a time, mostly off this thread (prepareIsolateAsync). */
  #refillOneAsync(): void {
    const mb = this.#deficit();
    if (mb === undefined) return;
    this.#refilling = true;
    prepareIsolateAsync(this.#snapshot, this.#prelude, mb).then(
      (p) => {
        this.#refilling = false;
        this.#lastRefill = performance.now();
        if (this.#closed) disposePrepared(p);
        else {
          this.#queues.get(mb)!.push(p);
          this.#scheduleRefill();
        }
      },
      () => {
        // A failed refill is retried on the next take(); the miss path reports real errors.
        this.#refilling = false;
      },
    );
  }

  /**
   * Making an isolate blocks this thread for milliseconds (`new Isolate`
   * deserializes the snapshot; the rest of a refill runs on isolated-vm's
   * threads), and a request that arrives meanwhile waits behind it. So
   * refills wait for a quiet moment: a pause in traffic (RELAXED_IDLE_MS)
   * while the pool is deep, any gap between requests (IDLE_MS) once it is
   * low, and none once it has run dry, when waiting would only push the same
   * cost onto the next cold start.
   */
  #scheduleRefill(): void {
    if (this.#closed || this.#refillScheduled !== undefined || this.#refilling || this.#deficit() === undefined) return;
    const quietFor = this.#quiet();
    const idleMs = this.#idleMs();
    const run = () => {
      this.#refillScheduled = undefined;
      if (this.#closed) return;
      const quiet = this.#quiet();
      if (this.ready > 0 && quiet < this.#idleMs()) this.#scheduleRefill();
      // Long quiet: make it here, which is cheaper in all and leaves the new
      // isolate's heap warm in this core's cache (its first request measured
      // ~0.1 ms faster). Traffic flowing: mostly off this thread, so that the
      // requests arriving meanwhile are not held up for the whole refill.
      else if (quiet >= QUIET_SYNC_MS) {
        const made = this.#refillOne();
        this.#lastRefill = performance.now();
        if (made) this.#scheduleRefill();
      } else this.#refillOneAsync();
    };
    this.#refillScheduled = quietFor >= idleMs || this.ready === 0 ? setImmediate(run) : setTimeout(run, idleMs - quietFor);
    this.#refillScheduled.unref();
  }

  #low(): boolean {
    for (const [mb, q] of this.#queues) if (mb !== this.#memoryMb && q.length === 0 && this.#target(mb) > 0) return true;
    return this.ready <= this.#size * LOW_WATER;
  }

  /** The quiet a refill waits for: short once the pool is low (or a non-default queue is empty). */
  #idleMs(): number {
    return this.#low() ? IDLE_MS : RELAXED_IDLE_MS;
  }

  /**
   * How long there has been no request (ms). A low pool also counts from the
   * last refill, so that refills are spread one per gap between requests
   * rather than chained into one gap; a deep pool refills only after a real
   * pause, and then back to back.
   */
  #quiet(): number {
    const now = performance.now();
    return this.#low() ? now - Math.max(this.#lastActivity, this.#lastRefill) : now - this.#lastActivity;
  }

  /** A request is being served: postpone refills (see #scheduleRefill). */
  noteActivity(): void {
    this.#lastActivity = performance.now();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#refillScheduled !== undefined) {
      clearImmediate(this.#refillScheduled as NodeJS.Immediate);
      clearTimeout(this.#refillScheduled as NodeJS.Timeout);
    }
    for (const q of this.#queues.values()) for (const p of q.splice(0)) disposePrepared(p);
  }
}
