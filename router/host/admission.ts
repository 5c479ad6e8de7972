// Node-wide admission limits per function, an isolate host's half: admits or
// refuses each request of a function with `limits.concurrency` or
// `limits.rps` against the capacity this host was granted by the front door,
// asking for more only when what it holds is not enough. Why it is leased,
// and how exact it is: router/admission.ts.

import type { FromHost, ToHost } from '../host-protocol.ts';
import { tokenBatchOf } from '../admission.ts';

/** A function's admission limits, resolved against the node's defaults; 0: unlimited. */
export interface AdmissionCaps {
  concurrency: number;
  rps: number;
}

/** Why a request is not served, for the data plane to answer (with `Retry-After: retryAfterSec`). */
export interface Refusal {
  code: 'ERR_OVERLOADED' | 'ERR_RATE_LIMITED';
  message: string;
  retryAfterSec: number;
}

/**
 * Called once per request: with a refusal, or admitted with the function to
 * call when the request is over (undefined when the request holds no slot).
 */
export type Admit = (refusal: Refusal | undefined, release: (() => void) | undefined) => void;

interface FnState {
  name: string;
  caps: AdmissionCaps;
  /** Concurrency slots granted to this host, and how many of them requests hold now. */
  held: number;
  inUse: number;
  /** Rate tokens granted and not yet spent. */
  tokens: number;
  /** Requests waiting for the answer to an acquire, oldest first. */
  readonly queue: Admit[];
  /** An acquire is in flight, covering the first `covered` requests of the queue. */
  asking: boolean;
  covered: number;
  /** The front door's bucket is empty until then (the injected clock): refuse without asking. */
  dryUntil: number;
  retryAfterSec: number;
}

export interface HostAdmissionOptions {
  send(msg: FromHost): void;
  /** Injectable for tests; default performance.now(). */
  now?: () => number;
}

export class HostAdmission {
  readonly #send: (msg: FromHost) => void;
  readonly #now: () => number;
  readonly #fns = new Map<string, FnState>();
  /** acquire id → the function it was for. */
  readonly #asked = new Map<number, FnState>();
  #nextId = 1;

  constructor(options: HostAdmissionOptions) {
    this.#send = options.send;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Admit a request of function `name` under `caps` (at least one of them non-zero); `done` is called now or after one round trip. */
  admit(name: string, caps: AdmissionCaps, done: Admit): void {
    let st = this.#fns.get(name);
    if (st === undefined) {
      st = { name, caps, held: 0, inUse: 0, tokens: 0, queue: [], asking: false, covered: 0, dryUntil: 0, retryAfterSec: 1 };
      this.#fns.set(name, st);
    }
    st.caps = caps;
    if (st.queue.length === 0 && this.#take(st)) {
      done(undefined, this.#releaser(st));
      this.#prefetch(st);
      return;
    }
    // This host already holds the function's whole cap, and every slot is
    // busy: no other host can have a free one, so there is nothing to ask.
    if (caps.concurrency > 0 && st.held >= caps.concurrency && st.inUse >= caps.concurrency) {
      done(this.#refusal(st, 'ERR_OVERLOADED', 1), undefined);
      return;
    }
    // Over the rate, and the front door said when the next token is due.
    if (caps.rps > 0 && st.tokens < 1 && st.queue.length === 0 && this.#now() < st.dryUntil) {
      done(this.#refusal(st, 'ERR_RATE_LIMITED', st.retryAfterSec), undefined);
      return;
    }
    st.queue.push(done);
    this.#ask(st);
  }

  #take(st: FnState): boolean {
    const { concurrency, rps } = st.caps;
    if (concurrency > 0 && st.inUse >= Math.min(st.held, concurrency)) return false;
    if (rps > 0 && st.tokens < 1) return false;
    if (concurrency > 0) st.inUse++;
    if (rps > 0) st.tokens--;
    return true;
  }

  #releaser(st: FnState): (() => void) | undefined {
    if (st.caps.concurrency === 0) return undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      st.inUse--;
      // The slot stays here for the next request, unless a redeploy lowered
      // the cap under what this host holds.
      const keep = Math.max(st.inUse, st.caps.concurrency);
      if (st.held > keep && st.queue.length === 0) {
        this.#send({ t: 'release', name: st.name, slots: st.held - keep, tokens: 0, reply: false });
        st.held = keep;
      }
      this.#serveQueue(st, 0);
    };
  }

  /** Ask for the next batch of rate tokens as the last one is spent, so the next request need not wait. */
  #prefetch(st: FnState): void {
    if (st.caps.rps > 0 && st.tokens < 1 && !st.asking && this.#now() >= st.dryUntil) this.#ask(st);
  }

  #ask(st: FnState): void {
    if (st.asking) return;
    const n = st.queue.length;
    const { concurrency, rps } = st.caps;
    const slots = concurrency === 0 ? 0 : Math.max(0, Math.min(st.inUse + n, concurrency) - st.held);
    const tokens = rps === 0 ? 0 : Math.max(0, n - Math.floor(st.tokens)) + tokenBatchOf(rps);
    const id = this.#nextId++;
    st.asking = true;
    st.covered = n;
    this.#asked.set(id, st);
    this.#send({ t: 'acquire', id, name: st.name, concurrency, rps, slots, tokens });
  }

  /**
   * Admit queued requests while capacity lasts. The first `refuse` of them
   * were covered by the acquire just answered: what it did not grant is not
   * there, so those are refused; later ones wait for the next acquire.
   */
  #serveQueue(st: FnState, refuse: number, retryAfterSec = 1): void {
    while (st.queue.length > 0) {
      if (this.#take(st)) {
        const done = st.queue.shift()!;
        if (refuse > 0) refuse--;
        else if (st.covered > 0) st.covered--;
        done(undefined, this.#releaser(st));
        continue;
      }
      if (refuse <= 0) break;
      refuse--;
      const full = st.caps.concurrency > 0 && st.inUse >= Math.min(st.held, st.caps.concurrency);
      st.queue.shift()!(this.#refusal(st, full ? 'ERR_OVERLOADED' : 'ERR_RATE_LIMITED', retryAfterSec), undefined);
    }
  }

  #refusal(st: FnState, code: Refusal['code'], retryAfterSec: number): Refusal {
    const { concurrency, rps } = st.caps;
    if (code === 'ERR_OVERLOADED') {
      return { code, retryAfterSec: 1, message: `function "${st.name}" is at its concurrency limit of ${concurrency} request${concurrency === 1 ? '' : 's'} at once on this node; retry after 1 s` };
    }
    return { code, retryAfterSec, message: `function "${st.name}" is over its rate limit of ${rps} request${rps === 1 ? '' : 's'} per second on this node; retry after ${retryAfterSec} s` };
  }

  onMessage(msg: Extract<ToHost, { t: 'grant' } | { t: 'reclaim' }>): void {
    if (msg.t === 'grant') {
      const st = this.#asked.get(msg.id);
      if (st === undefined) return;
      this.#asked.delete(msg.id);
      st.held += msg.slots;
      st.tokens += msg.tokens;
      st.asking = false;
      st.dryUntil = msg.dryMs > 0 ? this.#now() + msg.dryMs : 0;
      st.retryAfterSec = msg.retryAfterSec;
      const covered = st.covered;
      st.covered = 0;
      this.#serveQueue(st, covered, msg.retryAfterSec);
      if (st.queue.length > 0) this.#ask(st);
      return;
    }
    // Another host needs this function's slots: give back what is idle.
    // Requests queued here keep theirs (they are waiting for more).
    const st = this.#fns.get(msg.name);
    let slots = 0;
    let tokens = 0;
    if (st !== undefined && st.queue.length === 0) {
      slots = st.held - st.inUse;
      tokens = Math.floor(st.tokens);
      st.held -= slots;
      st.tokens -= tokens;
    }
    this.#send({ t: 'release', name: msg.name, slots, tokens, reply: true });
  }
}
