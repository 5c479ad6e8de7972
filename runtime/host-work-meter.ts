// What a request is charged for the host computation it asked for (WebCrypto,
// zlib: the CHARGED_OPS of host-ops/index.ts), which runs on libuv's thread
// pool, not in the isolate.
//
// Each op's wall time from call to result is an upper bound of its CPU, but
// summing those bounds over ops in flight together counts the queueing too:
// a worker that starts 300 `crypto.subtle.encrypt` calls at once (WPT's
// aes_gcm.https.any.js does) waited behind its own calls, and the sum grew
// with the square of their number (seen: past a 30 s budget for work Node
// does in well under a second). At most `threads` of them run at any moment,
// so while n are in flight a request is charged min(n, threads) ms per wall
// ms: still an upper bound of their CPU, and the same as before for one op
// at a time (a key-generation loop cannot escape its budget).

/** libuv's thread pool size: its UV_THREADPOOL_SIZE, read when the pool starts (default 4). */
export const THREAD_POOL_SIZE = Math.max(1, Math.min(1024, Number(process.env.UV_THREADPOOL_SIZE) || 4));

export class HostWorkMeter {
  readonly #threads: number;
  #inFlight = 0;
  #since = 0;

  /** `threads`: how many ops can run at once (the thread pool's size). */
  constructor(threads: number = THREAD_POOL_SIZE) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a whole number of at least 1, got ${threads}`);
    this.#threads = threads;
  }

  /** An op starts at `now` (ms); returns the charge accrued since the last start or end. */
  start(now: number): number {
    const charge = this.#advance(now);
    this.#inFlight++;
    return charge;
  }

  /** An op ends at `now` (ms); returns the charge accrued since the last start or end. */
  end(now: number): number {
    const charge = this.#advance(now);
    if (this.#inFlight > 0) this.#inFlight--;
    return charge;
  }

  #advance(now: number): number {
    const charge = this.#inFlight === 0 ? 0 : Math.max(0, now - this.#since) * Math.min(this.#inFlight, this.#threads);
    this.#since = now;
    return charge;
  }
}
