// Node-wide admission limits per function, the front door's half:
// `limits.concurrency` (requests of a function running at once on this node)
// and `limits.rps` (requests admitted per second, a token bucket).
//
// Requests are answered inside the isolate hosts, several per node, and a
// function is normally served by one host but not always (placement moves a
// connection off a blocked host; a keep-alive connection may change Host), so
// no host can count alone. Asking the front door on every request would put
// an IPC round trip (~0.1 ms, more than a warm request) on the hot path.
// The capacity is leased instead:
//
// - This module owns each function's capacity: its concurrency slots and its
//   token bucket. A host 'acquire's what it lacks and keeps what it is
//   granted (router/host/admission.ts).
// - A host admits from its own holdings when it can. A slot stays with its
//   host after the request ends, so a warm host that has served a function at
//   this concurrency before admits with two counter updates and no message.
// - Only a host that holds too little makes its request wait for one round
//   trip here; the grant is what is free, and the host refuses the rest
//   (503 overloaded, 429 rate-limited). A host that already holds the whole
//   cap, all busy, refuses at once without asking.
// - Slots that other hosts hold idle are reclaimed: they are asked to give
//   back what they do not use, and the waiting acquire is answered once all
//   have (or after RECLAIM_MS).
// - Rate tokens go out in batches of a twentieth of a second's worth, and a
//   host asks for the next batch as it spends its last token, so a function
//   under its rate rarely waits. A host told the bucket is dry refuses on its
//   own until the next token is due, so a flood past the rate is refused
//   without a message per request.
//
// Accuracy: the node-wide caps hold exactly. A host admits only against what
// was granted to it, slot grants never sum past the cap, and token grants
// never pass the bucket (refilled at `rps` a second up to the burst). What
// that exactness costs: the first request at each new concurrency level on a
// host, and a rate-limited request that finds its host's batch empty, wait
// one IPC round trip; a function whose connections move to another host may
// be refused for up to RECLAIM_MS while its slots come back. A host that dies
// gives its slots back; tokens it held are lost (a short dip below the rate).

import type { FromHost, ToHost } from './host-protocol.ts';

/** How long an acquire waits for other hosts to give back idle slots (ms). */
export const RECLAIM_MS = 50;

/** The bucket's size for `rps`: a tenth of a second's worth, at least one request. */
export function burstOf(rps: number): number {
  return Math.max(1, Math.ceil(rps / 10));
}

/** Tokens a host asks for beyond what its waiting requests need: a twentieth of a second's worth, at least one. */
export function tokenBatchOf(rps: number): number {
  return Math.max(1, Math.ceil(rps / 20));
}

type Acquire = Extract<FromHost, { t: 'acquire' }>;
type Release = Extract<FromHost, { t: 'release' }>;

interface Budget<H> {
  concurrency: number;
  rps: number;
  /** Slots granted per host; `slots` is their sum. */
  readonly granted: Map<H, number>;
  slots: number;
  /** The token bucket and when it was last refilled (performance.now()). */
  tokens: number;
  at: number;
  /** Acquires waiting for the hosts in `awaiting` to answer a reclaim. */
  parked: Array<{ host: H; msg: Acquire }>;
  readonly awaiting: Set<H>;
  timer: NodeJS.Timeout | undefined;
}

export interface NodeAdmissionOptions<H> {
  send(host: H, msg: ToHost): void;
  /** Injectable for tests; default performance.now(). */
  now?: () => number;
}

export class NodeAdmission<H> {
  readonly #budgets = new Map<string, Budget<H>>();
  readonly #send: (host: H, msg: ToHost) => void;
  readonly #now: () => number;

  constructor(options: NodeAdmissionOptions<H>) {
    this.#send = options.send;
    this.#now = options.now ?? (() => performance.now());
  }

  #budget(msg: Acquire): Budget<H> {
    let b = this.#budgets.get(msg.name);
    if (b === undefined) {
      b = { concurrency: msg.concurrency, rps: msg.rps, granted: new Map(), slots: 0, tokens: burstOf(msg.rps), at: this.#now(), parked: [], awaiting: new Set(), timer: undefined };
      this.#budgets.set(msg.name, b);
    }
    // A redeploy changed the limits: the host asking has the new version's.
    if (b.rps !== msg.rps) {
      this.#refill(b);
      b.rps = msg.rps;
      b.tokens = Math.min(b.tokens, burstOf(msg.rps));
    }
    b.concurrency = msg.concurrency;
    return b;
  }

  #refill(b: Budget<H>): void {
    const now = this.#now();
    if (b.rps > 0) b.tokens = Math.min(burstOf(b.rps), b.tokens + ((now - b.at) / 1000) * b.rps);
    b.at = now;
  }

  acquire(host: H, msg: Acquire): void {
    const b = this.#budget(msg);
    if (b.awaiting.size > 0) {
      b.parked.push({ host, msg });
      return;
    }
    if (msg.slots > 0 && b.concurrency > 0 && b.slots + msg.slots > b.concurrency) {
      for (const [other, n] of b.granted) {
        if (other === host || n === 0) continue;
        b.awaiting.add(other);
        this.#send(other, { t: 'reclaim', name: msg.name });
      }
      if (b.awaiting.size > 0) {
        b.parked.push({ host, msg });
        b.timer = setTimeout(() => this.#unpark(b), RECLAIM_MS);
        b.timer.unref();
        return;
      }
    }
    this.#answer(b, host, msg);
  }

  #answer(b: Budget<H>, host: H, msg: Acquire): void {
    let slots = 0;
    if (b.concurrency > 0 && msg.slots > 0) {
      slots = Math.max(0, Math.min(msg.slots, b.concurrency - b.slots));
      b.slots += slots;
      b.granted.set(host, (b.granted.get(host) ?? 0) + slots);
    }
    let tokens = 0;
    let retryAfterSec = 1;
    let dryMs = 0;
    if (b.rps > 0) {
      this.#refill(b);
      tokens = Math.max(0, Math.min(msg.tokens, Math.floor(b.tokens)));
      b.tokens -= tokens;
      // When the next whole token is due; Retry-After is whole seconds, at least 1.
      const dueMs = b.tokens >= 1 ? 0 : ((1 - b.tokens) / b.rps) * 1000;
      retryAfterSec = Math.max(1, Math.ceil(dueMs / 1000));
      if (tokens < msg.tokens) dryMs = dueMs;
    }
    this.#send(host, { t: 'grant', id: msg.id, slots, tokens, retryAfterSec, dryMs });
  }

  #unpark(b: Budget<H>): void {
    if (b.timer !== undefined) clearTimeout(b.timer);
    b.timer = undefined;
    b.awaiting.clear();
    for (const { host, msg } of b.parked.splice(0)) this.#answer(b, host, msg);
  }

  release(host: H, msg: Release): void {
    const b = this.#budgets.get(msg.name);
    if (b === undefined) return;
    const held = b.granted.get(host) ?? 0;
    const slots = Math.min(held, msg.slots);
    b.slots -= slots;
    if (held - slots === 0) b.granted.delete(host);
    else b.granted.set(host, held - slots);
    if (msg.tokens > 0 && b.rps > 0) {
      this.#refill(b);
      b.tokens = Math.min(burstOf(b.rps), b.tokens + msg.tokens);
    }
    if (msg.reply && b.awaiting.delete(host) && b.awaiting.size === 0) this.#unpark(b);
  }

  /** A host is gone: what it held is free again, and nobody waits for its answer. */
  forgetHost(host: H): void {
    for (const b of this.#budgets.values()) {
      b.slots -= b.granted.get(host) ?? 0;
      b.granted.delete(host);
      b.parked = b.parked.filter((p) => p.host !== host);
      if (b.awaiting.delete(host) && b.awaiting.size === 0) this.#unpark(b);
    }
  }

  close(): void {
    for (const b of this.#budgets.values()) if (b.timer !== undefined) clearTimeout(b.timer);
    this.#budgets.clear();
  }
}
