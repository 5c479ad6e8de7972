// The host side of one streamed request body: what the data plane has pushed
// and the isolate has not taken yet, and the credit window between them (the
// contract is RequestHandle.pushBody / ResponseSink.pull in request-types.ts).
//
// Bytes cross in batches of up to 1 MB, and moving them is not charged to the
// tenant. Before, every socket chunk was one entry whose arguments isolated-vm
// structured-copied inside the entry, on the request's CPU clock: a worker
// counting a body with `for await` was charged 0.43 ms per 64 KB entry and
// 6.2 ms per 1 MB entry (p50, this 2-core host), so a 100 MB upload ran into
// the 50 ms budget. Now, per batch:
//  1. `take()` concatenates the queued chunks into one fresh buffer and hands
//     its ArrayBuffer to an ExternalCopy without a copy (host side, uncharged);
//  2. the stageBody entry copies it into the isolate and makes its pacer
//     garbage (below), uncharged: live-isolate.ts passes `charge: false`, and
//     dispatch.ts's stageBody runs no tenant code. ~110 µs per 1 MB, ~160 µs
//     while a process first touches the memory, plus the scavenges it paces;
//  3. the deliverBody entry, charged, hands it to the worker's stream. For the
//     counting worker, p50 17-25 µs per 1 MB in a warm isolate and 20-65 µs in
//     a fresh one, on this host at load average 2: a few µs are the entry, the
//     rest the worker's read path in the streams library, interpreted until V8
//     tiers it up. A 100 MB upload was charged 3-4 ms, 5-11 ms into a fresh
//     isolate (which also loads the streams library, ~1 ms).
// Why the copy in step 2 instead of `copyInto({ transferIn: true })`, which was
// cheapest (3.7 µs per 1 MB, against 66 µs to copy): isolated-vm counts a
// transferred-in buffer against the memory limit only while that ArrayBuffer
// object lives, so after `buffer.transfer()` (which the byte stream's enqueue
// itself calls) the bytes left the count: measured, 200 MB kept at a 32 MB
// limit. A copy is made by the isolate's own allocator and stays counted.

import ivm from 'isolated-vm';
import { REQUEST_WINDOW_BYTES } from './request-types.ts';

/** Most bytes handed to the isolate in one entry. */
const MAX_BATCH_BYTES = REQUEST_WINDOW_BYTES;
/**
 * Event-loop turns a delivery waits for a batch to fill while the sender keeps
 * pushing (see `filling`): a sender that pushes a little every turn must not
 * hold the worker's read back for long.
 */
const MAX_FILL_TURNS = 16;

/**
 * Young-generation garbage stageBody makes per batch: one array element (8
 * bytes) per 128 bytes of body, so 64 KB per 1 MB, each array below V8's
 * large-object size so that it is allocated young. A worker that only reads
 * its body allocates almost nothing on the JS heap, and V8 frees the bytes of
 * dead batches only at a GC: unpaced, an upload kept up to 64 MB of read
 * batches alive per isolate until V8's external-memory limit forced a full
 * mark-compact (measured, 200 MB counted with `for await`: isolate external
 * peak 63 MB, process RSS +76 MB with the host's own garbage collected).
 * Paced, the young generation fills and a scavenge frees them every ~16 MB:
 * peak 16 MB, RSS +34 MB, and the deliveries were charged less (a fresh
 * isolate's 100 MB: 7 ms, from 10-13), their memory being reused warm.
 */
const PACER_BYTES_PER_ELEMENT = 128;
const PACER_MAX_ELEMENTS = 8192;

export interface BodyBatch {
  /** The bytes, as a handle the entry's arguments carry across; null when there are none. */
  bytes: ivm.Copy<ArrayBuffer> | null;
  /** Array elements of young garbage stageBody makes with them (see PACER_BYTES_PER_ELEMENT). */
  pacerElements: number;
  /** The body ends after these bytes. */
  end: boolean;
}

export class RequestBody {
  readonly #chunks: Uint8Array[] = [];
  /** Bytes of #chunks[0] already taken. */
  #offset = 0;
  #queued = 0;
  #ended = false;
  #endTaken = false;
  /** The worker cancelled the body, or the request is over: bytes are dropped from now on. */
  #dropped = false;
  /** The isolate's stream asked for bytes and has not been given any yet. */
  #wanted = false;
  /** A push answered false: the data plane waits for sink.pull(). */
  #paused = false;
  /** A delivery is scheduled on the host's event loop. */
  scheduled = false;
  /** A chunk arrived since the last `filling()`. */
  #arrived = false;
  /** Turns the waiting delivery has given the sender so far. */
  #fillTurns = 0;

  /**
   * A chunk from the data plane (null: the body ended). Returns whether there
   * is room for more; false obliges a later pull (see `take` and `drop`).
   */
  push(chunk: Uint8Array | null): boolean {
    if (this.#dropped || this.#ended) return true;
    if (chunk === null) {
      this.#ended = true;
      return true;
    }
    if (chunk.byteLength === 0) return this.#queued < REQUEST_WINDOW_BYTES;
    this.#chunks.push(chunk);
    this.#queued += chunk.byteLength;
    this.#arrived = true;
    if (this.#queued < REQUEST_WINDOW_BYTES) return true;
    this.#paused = true;
    return false;
  }

  /** The isolate's stream wants bytes. */
  want(): void {
    this.#wanted = true;
  }

  /** There is something to hand to a waiting isolate. */
  get deliverable(): boolean {
    return this.#wanted && !this.#dropped && (this.#queued > 0 || (this.#ended && !this.#endTaken));
  }

  /**
   * Whether a waiting delivery should give the sender another turn: bytes
   * arrived since the last ask, the batch is not full, the body goes on, and
   * it has not waited MAX_FILL_TURNS already.
   */
  filling(): boolean {
    const filling = this.#arrived && this.#queued < MAX_BATCH_BYTES && !this.#ended && this.#fillTurns < MAX_FILL_TURNS;
    this.#arrived = false;
    this.#fillTurns = filling ? this.#fillTurns + 1 : 0;
    return filling;
  }

  /**
   * Everything queued up to MAX_BATCH_BYTES, in one fresh buffer this class
   * owns and transfers: the data plane's chunks may be views of buffers it
   * shares (Node's pool slabs), so they are never transferred themselves.
   * Call only when `deliverable`, and before the entry's CPU clock starts.
   */
  take(): BodyBatch {
    this.#wanted = false;
    const n = Math.min(this.#queued, MAX_BATCH_BYTES);
    let bytes: ivm.Copy<ArrayBuffer> | null = null;
    if (n > 0) {
      // Zero-filled, not allocUnsafe: a miscount here must never hand a tenant
      // stale host memory. The fill costs the host ~30 µs per MB, uncharged.
      const out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const head = this.#chunks[0]!;
        const take = Math.min(head.byteLength - this.#offset, n - filled);
        out.set(head.subarray(this.#offset, this.#offset + take), filled);
        filled += take;
        this.#offset += take;
        if (this.#offset === head.byteLength) {
          this.#chunks.shift();
          this.#offset = 0;
        }
      }
      this.#queued -= n;
      // Moved into the ExternalCopy without a copy, but copied into the
      // isolate (no transferIn): see the top of this file.
      bytes = new ivm.ExternalCopy(out.buffer, { transferList: [out.buffer] }).copyInto({ release: true });
    }
    const end = this.#ended && this.#queued === 0;
    if (end) this.#endTaken = true;
    return { bytes, pacerElements: Math.min(PACER_MAX_ELEMENTS, Math.ceil(n / PACER_BYTES_PER_ELEMENT)), end };
  }

  /**
   * Whether the data plane is owed its pull() now: a push answered false and
   * the queue has fallen to at most half the window. Clears the debt.
   */
  roomAgain(): boolean {
    if (!this.#paused || this.#queued > REQUEST_WINDOW_BYTES / 2) return false;
    this.#paused = false;
    return true;
  }

  /** Discard what is queued and accept-and-drop whatever comes later. */
  drop(): void {
    this.#dropped = true;
    this.#chunks.length = 0;
    this.#offset = 0;
    this.#queued = 0;
  }
}
