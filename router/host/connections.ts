// The connections an isolate host was handed by the front door, and which of
// them have a request in flight. The front door keeps its own descriptor of
// every connection it hands over, so that when a host dies it can still answer
// the requests that host was serving with 503 host-restart. For that it must
// know which connections were waiting for a response, and telling it about
// every request would put an IPC message back on every request's path. So the
// host tells it only about requests that have been in flight for longer than
// TICK_MS, in one 'tick' every TICK_MS while it is serving, left out while it
// would repeat an empty one: a hello-world request (~0.1 ms) is never
// mentioned. (Whether a host is stuck in a long isolate entry, so that new
// connections go elsewhere, its watchdog thread reports on a pipe of its
// own: watchdog.ts.)
//
// A host stuck inside one isolate entry cannot tick, so the requests it holds
// would never be reported. That case is the watchdog thread's (watchdog.ts):
// it ends such a host, and before it does, it answers every waiting request
// itself, from a table of [socket descriptor, state] per connection kept in
// shared memory (two Int32 stores per request, no system call).
//
// A connection the host has not said it adopted (host-protocol.ts 'adopted')
// still has its first request unanswered, so that one is answered too.
//
// Every other connection of a dead host (idle, or with a next request the
// host never read) is read again by the front door and placed on another
// host (host-supervisor.ts). What this leaves uncovered: a host that crashes
// (or is killed as hung without its watchdog acting) within TICK_MS of a
// request's start cannot say the request was read; the front door answers
// such a connection 503 host-restart when it has nothing to read at once and
// the host was serving, and a response under way for less than TICK_MS is
// cut.

import type { Socket } from 'node:net';
import { TICK_MS, type FromHost } from '../host-protocol.ts';

/** A host with nothing in flight for this long stops ticking (ms); shorter gaps keep it ticking, so back-to-back traffic sends no start/stop pairs. */
const QUIET_AFTER_MS = 10;

/** Connections a host can list in the shared table; past that a connection is served but not covered by the watchdog's answers. */
export const CONN_SLOTS = 8192;
/** Slot states in the shared table. */
export const SLOT_IDLE = 0;
export const SLOT_WAITING = 1;
export const SLOT_STREAMING = 2;

/** A tick from a host that is serving. */
type Tick = Extract<FromHost, { t: 'tick' }>;

function activeTick(waiting: number[], streaming: number[]): Tick {
  return { t: 'tick', waiting, streaming, quiet: false };
}

/** "Serving, nothing waiting or streaming." */
function isEmpty(tick: Tick): boolean {
  return !tick.quiet && tick.waiting.length === 0 && tick.streaming.length === 0;
}

interface Conn {
  id: number;
  socket: Socket;
  /** Index in the shared table, or -1. */
  slot: number;
  /** Requests parsed and not yet finished (more than one only when a client pipelines). */
  inflight: number;
  /** performance.now() when the oldest unfinished request started. */
  since: number;
  headSent: boolean;
  /** The front door was told this connection is waiting for a response head. */
  reportedWaiting: boolean;
}

export interface LedgerOptions {
  /** Batched send to the front door. */
  send(msg: FromHost): void;
  /** Immediate send, for a report the front door must have before the bytes it describes. */
  sendNow(msg: FromHost): void;
}

export class ConnectionLedger {
  readonly #options: LedgerOptions;
  readonly #conns = new Map<Socket, Conn>();
  #active = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The last tick sent was the empty one (isEmpty). */
  #saidEmpty = false;
  #draining = false;
  #lastEnd = 0;
  /** [fd, state] per slot, shared with the watchdog thread. */
  readonly table = new Int32Array(new SharedArrayBuffer(CONN_SLOTS * 2 * 4));
  readonly #freeSlots: number[] = Array.from({ length: CONN_SLOTS }, (_, i) => CONN_SLOTS - 1 - i);

  constructor(options: LedgerOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#conns.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  adopt(id: number, socket: Socket): void {
    const fd = (socket as Socket & { _handle?: { fd?: number } })._handle?.fd;
    const slot = typeof fd === 'number' && fd >= 0 ? (this.#freeSlots.pop() ?? -1) : -1;
    if (slot >= 0) {
      this.table[slot * 2] = fd!;
      this.table[slot * 2 + 1] = SLOT_IDLE;
    }
    const conn: Conn = { id, socket, slot, inflight: 0, since: 0, headSent: false, reportedWaiting: false };
    this.#conns.set(socket, conn);
    socket.once('close', () => {
      if (this.#conns.get(socket) !== conn) return;
      this.#conns.delete(socket);
      if (slot >= 0) {
        Atomics.store(this.table, slot * 2 + 1, SLOT_IDLE);
        Atomics.store(this.table, slot * 2, -1);
        this.#freeSlots.push(slot);
      }
      this.#active -= conn.inflight;
      conn.inflight = 0;
      this.#options.send({ t: 'closed', id });
      if (this.#draining && this.#conns.size === 0) this.#options.send({ t: 'drained' });
    });
    if (this.#draining) setImmediate(() => this.#closeIfIdle(conn));
  }

  /** A request on `socket` was parsed and is being served. */
  start(socket: Socket): void {
    const c = this.#conns.get(socket);
    if (c === undefined) return;
    if (c.inflight++ === 0) {
      c.since = performance.now();
      c.headSent = false;
      if (c.slot >= 0) Atomics.store(this.table, c.slot * 2 + 1, SLOT_WAITING);
    }
    this.#active++;
    if (this.#timer === undefined) {
      // Quiet until now: say so at once, before this request's entry runs, so
      // that a host stuck in that very entry shows up as blocked.
      this.#say(activeTick([], []), true);
      this.#timer = setTimeout(() => this.#tick(), TICK_MS);
    }
  }

  /** The response head of the oldest request on `socket` has been handed to the socket. */
  head(socket: Socket): void {
    const c = this.#conns.get(socket);
    if (c === undefined || c.headSent) return;
    c.headSent = true;
    if (c.slot >= 0) Atomics.store(this.table, c.slot * 2 + 1, SLOT_STREAMING);
    if (c.reportedWaiting) {
      // The front door must stop treating this connection as answerable with
      // a 503 before any byte of this head can reach the client.
      c.reportedWaiting = false;
      // Every response under way goes with it: a tick replaces the front
      // door's list, and one it lacks would be read again if the host died.
      this.#say(activeTick(this.#waiting(performance.now()), this.#streaming(performance.now(), c)), true);
    }
  }

  /** The oldest request on `socket` is over (response finished, or the connection went). */
  end(socket: Socket): void {
    const c = this.#conns.get(socket);
    if (c === undefined || c.inflight === 0) return;
    c.inflight--;
    this.#active--;
    this.#lastEnd = performance.now();
    c.reportedWaiting = false;
    if (c.inflight > 0) {
      c.since = performance.now();
      c.headSent = false;
      if (c.slot >= 0) Atomics.store(this.table, c.slot * 2 + 1, SLOT_WAITING);
    } else {
      if (c.slot >= 0) Atomics.store(this.table, c.slot * 2 + 1, SLOT_IDLE);
    }
    if (c.inflight === 0 && this.#draining) {
      setImmediate(() => this.#closeIfIdle(c));
    }
  }

  /** Send a tick (`now`: at once, ahead of the batch), remembering whether it was the empty one. */
  #say(tick: Tick, now: boolean): void {
    if (now) this.#options.sendNow(tick);
    else this.#options.send(tick);
    this.#saidEmpty = isEmpty(tick);
  }

  #waiting(now: number): number[] {
    const out: number[] = [];
    for (const c of this.#conns.values()) {
      if (c.inflight > 0 && !c.headSent && now - c.since >= TICK_MS) {
        c.reportedWaiting = true;
        out.push(c.id);
      }
    }
    return out;
  }

  /** Connections whose response is under way and older than a tick, and `also`. */
  #streaming(now: number, also?: Conn): number[] {
    const out: number[] = [];
    for (const c of this.#conns.values()) if (c === also || (c.inflight > 0 && c.headSent && now - c.since >= TICK_MS)) out.push(c.id);
    return out;
  }

  #tick(): void {
    this.#timer = undefined;
    const now = performance.now();
    if (this.#active <= 0 && now - this.#lastEnd >= QUIET_AFTER_MS) {
      this.#active = 0;
      this.#say({ t: 'tick', waiting: [], streaming: [], quiet: true }, false);
      return;
    }
    const tick = activeTick(this.#waiting(now), this.#streaming(now));
    // A tick replaces the front door's lists; while they stay empty (short
    // requests, however many) it already knows all a tick would say. Sent
    // anyway, a busy host woke the front door 500 times a second for nothing.
    if (!(this.#saidEmpty && isEmpty(tick))) this.#say(tick, false);
    this.#timer = setTimeout(() => this.#tick(), TICK_MS);
  }

  #closeIfIdle(c: Conn): void {
    if (c.inflight === 0 && this.#conns.get(c.socket) === c) c.socket.destroy();
  }

  /** Keep no connection alive any more: idle ones close now, busy ones after their response. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    if (this.#conns.size === 0) {
      this.#options.send({ t: 'drained' });
      return;
    }
    for (const c of this.#conns.values()) this.#closeIfIdle(c);
  }

  destroyAll(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const c of this.#conns.values()) c.socket.destroy();
  }
}
