// Starts, watches and replaces the isolate-host processes, and places each
// connection on one of them. A host that exits, stops answering pings, or
// grows past its memory cap is replaced; requests it was serving for longer
// than a tick are answered at once with 503 host-restart rather than hanging
// (see host/connections.ts for what the front door learns, and when).

import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { EdgefnError, ISOLATE_V8_FLAGS, monotonicMs, type Limits, type WorkerFormat } from '../runtime/index.ts';
import { NodeAdmission } from './admission.ts';
import { WATCHDOG_SIGNAL } from './host/watchdog.ts';
import { BLOCKED_FD, WATCHDOG_GRACE_MS, type Batch, type FromHost, type HostConfig, type HostStats, type ToHost } from './host-protocol.ts';
import type { FunctionReport } from './function-report.ts';
import { HOST_STUCK_MESSAGE, HTTP_ERRORS, rawErrorResponse } from './http-errors.ts';
import type { ScheduledOutcome, StickyKey, TrafficShare } from '../sdk/wire.ts';

const HOST_MAIN = fileURLToPath(new URL('./host/main.ts', import.meta.url));

export interface SupervisorOptions {
  /** Isolate-host processes to run. */
  hosts: number;
  config: HostConfig;
  /** Resident memory above which a host is drained and replaced, in MB. */
  rssCapMb: number;
  /** A host that has not answered a ping for this long is killed, in ms. */
  hangMs: number;
  /** How often hosts are pinged, in ms. Default 1000. */
  pingMs?: number;
  onLog(name: string, line: { version: number; level: string; message: string; time: number; requestId: string | undefined }): void;
  /** Every pong: the host's counters now, and what it served since its last pong. */
  onReport?(host: { index: number; pid: number | undefined }, stats: HostStats, functions: FunctionReport[]): void;
  onCache(name: string, version: number, cache: Uint8Array): void;
  onHostEvent?(event: string): void;
  /**
   * Take back a connection a dead host left with no request known to be in
   * flight: read its next request head and place it again (front-door.ts
   * readmit). `closeIfSilent`: close it if nothing arrives at once. Absent:
   * such connections are closed.
   */
  readmit?(socket: Socket, closeIfSilent?: boolean): void;
}

/** How long a connection (or a validation) waits for a starting host when no host is ready, as when every host is being replaced (ms). A host starts in about a second; on a loaded machine, far more. */
const START_WAIT_MS = 30_000;
/** Sent with every 503 host-restart: the node serves again as soon as a host is back. */
const RETRY_AFTER = 'retry-after: 1\r\n';
/** How long a deploy waits for every ready host to apply its route (ms). */
const ROUTE_ACK_MS = 2_000;

let nextId = 1;

/**
 * Write a whole raw response on a client connection the front door still
 * holds, then close it; a client that does not read it loses the connection
 * after a second all the same.
 */
function answerAndClose(socket: Socket, response: string): void {
  if (socket.writable) socket.end(response);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * V8 flags for isolate-host processes: the runtime's (runtime/v8-flags.ts),
 * and `--wasm-max-mem-pages`, which caps every
 * WebAssembly.Memory in the process (64 KiB pages; checked with
 * `node --v8-options` on Node 24 / V8 13.6, default 2^32-1). It is the guard
 * inside one long entry, where wasm `memory.grow` runs before the after-entry
 * check (runtime/webapi/wasm.ts) can see it. The flag is process-wide, so it
 * is the node's default memory limit: a function with a larger limit still
 * gets at most that much per memory. Past all of this, the supervisor's RSS
 * cap (rssCapMb) drains and replaces the whole host.
 */
export function hostExecArgv(config: HostConfig): string[] {
  return [...ISOLATE_V8_FLAGS, `--wasm-max-mem-pages=${Math.ceil(config.defaults.memoryMb * 16)}`];
}

class IsolateHost {
  readonly child: ChildProcess;
  readonly index: number;
  /** The front door's descriptor of every connection handed to this host, by id. */
  readonly conns = new Map<number, Socket>();
  /** Connections whose request has been in flight for over a tick with no response head yet. */
  waiting = new Set<number>();
  /** Connections with a response under way, by the last tick: the host's death can only cut them. */
  streaming = new Set<number>();
  /**
   * Connections handed over that the host has not said it took, with what
   * placed them: their first request is unanswered, and unread by the host.
   */
  readonly unadopted = new Map<number, { head: Uint8Array; key: string }>();
  /** The process has exited; its last messages may still be arriving. */
  exited = false;
  /** Serving, by its last tick. */
  active = false;
  /**
   * The isolate entry the host's watchdog thread says its main thread has
   * been stuck in for host-protocol.ts BLOCKED_ENTRY_MS (0: none). Read from
   * the watchdog's own pipe, so a host is blocked exactly while it is inside
   * a long entry, however loaded the machine: a host that is merely not
   * scheduled is not, and one that spins is, whatever share of a CPU it gets.
   */
  blockedEntry = 0;
  readonly routeAcks = new Map<number, () => void>();
  readonly validations = new Map<number, { resolve(cache: Uint8Array | undefined): void; reject(err: EdgefnError): void }>();
  /** Scheduled runs sent to this host and not yet over. */
  readonly scheduledRuns = new Map<number, (outcome: ScheduledOutcome) => void>();
  state: 'starting' | 'ready' | 'draining' | 'dead' = 'starting';
  /** When the host last answered a ping (performance.now(): a wall-clock step must not look like a hang). */
  lastPong = performance.now();
  /** The deadline (monotonicMs, the host's clock too) of the long isolate entry the host last announced. */
  entryUntil = 0;
  stats: HostStats | undefined;
  snapshotPath: 'snapshot' | 'prelude' | undefined;
  readonly ready: Promise<void>;

  constructor(index: number, config: HostConfig, onMessage: (h: IsolateHost, m: FromHost) => void, onExit: (h: IsolateHost, why: string) => void) {
    this.index = index;
    this.child = fork(HOST_MAIN, [], {
      serialization: 'advanced',
      // BLOCKED_FD: the watchdog thread's blocked pipe (see blockedEntry).
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'],
      execArgv: hostExecArgv(config),
    });
    let markReady: () => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      this.child.once('exit', (code, signal) => reject(new Error(`isolate host exited during start-up (${signal ?? code})`)));
    });
    this.ready.catch(() => {});
    const one = (msg: FromHost) => {
      if (msg.t === 'ready') {
        this.state = 'ready';
        this.snapshotPath = msg.snapshotPath;
        this.lastPong = performance.now();
        markReady();
        return;
      }
      // Messages carry what tenants produced; a bug in handling one must cost
      // that one request, never the front door.
      try {
        onMessage(this, msg);
      } catch (err) {
        process.stderr.write(`edgefn: error handling a '${msg.t}' message from isolate host ${index}: ${err instanceof Error ? err.stack : String(err)}\n`);
      }
    };
    this.child.on('message', (m) => {
      const msg = m as FromHost | Batch<FromHost>;
      if (msg.t === 'batch') for (const x of msg.m) one(x);
      else one(msg);
    });
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      const why = signal ?? `exit code ${code}`;
      // What the host sent before it died (that it took a connection, say)
      // may still be unread in the channel; its end comes after all of it.
      if (!this.child.connected) return onExit(this, why);
      let done = false;
      const go = () => {
        if (done) return;
        done = true;
        onExit(this, why);
      };
      this.child.once('disconnect', go);
      setTimeout(go, 200).unref();
    });
    this.child.on('error', () => {});
    this.#readBlocked();
    this.send({ t: 'init', config });
  }

  #outbox: ToHost[] = [];

  send(msg: ToHost): void {
    if (this.state === 'dead' || !this.child.connected) return;
    if (this.#outbox.length === 0) setImmediate(() => this.#flush());
    this.#outbox.push(msg);
  }

  #flush(): void {
    const m = this.#outbox;
    this.#outbox = [];
    if (m.length === 0 || this.state === 'dead' || !this.child.connected) return;
    try {
      this.child.send(m.length === 1 ? m[0]! : ({ t: 'batch', m } satisfies Batch<ToHost>));
    } catch {
      // The channel closed under us; the exit handler fails what is in flight.
    }
  }

  blocked(): boolean {
    return this.blockedEntry !== 0;
  }

  /** Lines "b <entry>" (blocked in it) and "u <entry>" (out of it) from the watchdog thread. */
  #readBlocked(): void {
    const pipe = this.child.stdio[BLOCKED_FD] as Readable | null | undefined;
    if (pipe == null) return;
    let rest = '';
    pipe.setEncoding('latin1');
    pipe.on('data', (text: string) => {
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const entry = Number(line.slice(2));
        if (line.startsWith('b ')) this.blockedEntry = entry;
        else if (line.startsWith('u ') && this.blockedEntry === entry) this.blockedEntry = 0;
      }
    });
    pipe.on('error', () => {});
  }

  /** Hand over a connection. Handles travel alone, after anything already queued. */
  sendConnection(id: number, head: Uint8Array, socket: Socket, onError: (err: Error) => void): void {
    this.#flush();
    try {
      this.child.send({ t: 'conn', id, head } satisfies ToHost, socket, { keepOpen: true }, (err) => {
        if (err) onError(err);
      });
    } catch (err) {
      onError(err as Error);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export class HostSupervisor {
  readonly #options: SupervisorOptions;
  readonly #hosts: IsolateHost[] = [];
  #frontUrl: string | undefined;
  /** function key (name@version) → hosts where it is live. */
  readonly #live = new Map<string, Set<IsolateHost>>();
  readonly #ping: NodeJS.Timeout;
  /** Node-wide admission limits: the capacity hosts lease (admission.ts). */
  readonly #admission = new NodeAdmission<IsolateHost>({ send: (h, m) => h.send(m) });
  #closed = false;
  /** Hosts asked for a last report on close, and what to call when it comes. */
  readonly #finalReports = new Map<IsolateHost, () => void>();
  restarts = 0;

  constructor(options: SupervisorOptions) {
    if (!Number.isInteger(options.hosts) || options.hosts < 1) throw new EdgefnError('ERR_INVALID_INPUT', `hosts must be a positive integer, got ${options.hosts}`);
    this.#options = options;
    for (let i = 0; i < options.hosts; i++) this.#hosts.push(this.#spawn(i));
    this.#ping = setInterval(() => this.#checkHosts(), options.pingMs ?? 1000);
    this.#ping.unref();
  }

  /** Resolves when every host has its pool ready. */
  async ready(): Promise<void> {
    await Promise.all(this.#hosts.map((h) => h.ready));
  }

  get snapshotPath(): string | undefined {
    return this.#hosts.find((h) => h.snapshotPath !== undefined)?.snapshotPath;
  }

  hostStats(): Array<{ index: number; pid: number | undefined; state: string; connections: number; waiting: number; blocked: boolean; serving: boolean; stats: HostStats | undefined }> {
    // A host that has exited (or whose channel broke) is reported so at once; its
    // replacement follows once the exit is handled (up to 200 ms later, see IsolateHost).
    return this.#hosts.map((h) => ({ index: h.index, pid: h.child.pid, state: h.exited || (h.state === 'ready' && !h.child.connected) ? 'exited' : h.state, connections: h.conns.size, waiting: h.waiting.size, blocked: h.blocked(), serving: h.active, stats: h.stats }));
  }

  /** For tests and operators: the pid of the host serving function key, if live. */
  pidsFor(key: string): number[] {
    return [...(this.#live.get(key) ?? [])].map((h) => h.child.pid ?? -1);
  }

  #spawn(index: number): IsolateHost {
    const h = new IsolateHost(index, this.#options.config, (h, m) => this.#onMessage(h, m), (h, why) => this.#onExit(h, why));
    if (this.#frontUrl !== undefined) h.send({ t: 'front', url: this.#frontUrl });
    return h;
  }

  /** Tell every host, now and after restarts, where the front door's data plane listens. */
  setFrontUrl(url: string): void {
    this.#frontUrl = url;
    for (const h of this.#hosts) h.send({ t: 'front', url });
  }

  #onMessage(h: IsolateHost, m: FromHost): void {
    switch (m.t) {
      case 'tick':
        h.active = !m.quiet;
        h.waiting = new Set(m.waiting);
        h.streaming = new Set(m.streaming);
        return;
      case 'adopted':
        h.unadopted.delete(m.id);
        return;
      case 'long-entry':
        h.entryUntil = m.until;
        return;
      case 'closed': {
        const socket = h.conns.get(m.id);
        // A draining host closes its idle connections; a request the client
        // sent just then is unread in the socket's buffer, and closing the
        // last descriptor would reset it. The front door takes such a
        // connection back instead (one the client closed reads its end at
        // once).
        const takeBack = h.state === 'draining' && !h.waiting.has(m.id) && !h.streaming.has(m.id) && !this.#closed && this.#options.readmit !== undefined;
        h.conns.delete(m.id);
        h.waiting.delete(m.id);
        h.streaming.delete(m.id);
        h.unadopted.delete(m.id);
        if (socket !== undefined && takeBack) this.#options.readmit!(socket);
        else socket?.destroy();
        return;
      }
      case 'drained':
        if (h.state === 'draining') h.kill();
        return;
      case 'routed': {
        const ack = h.routeAcks.get(m.id);
        h.routeAcks.delete(m.id);
        ack?.();
        return;
      }
      case 'validated': {
        const v = h.validations.get(m.id);
        h.validations.delete(m.id);
        if (v === undefined) return;
        if (m.ok) v.resolve(m.cache);
        else v.reject(new EdgefnError(m.code, m.message));
        return;
      }
      case 'log':
        this.#options.onLog(m.name, { version: m.version, level: m.level, message: m.message, time: m.time, requestId: m.requestId });
        return;
      case 'scheduled-done': {
        const done = h.scheduledRuns.get(m.id);
        h.scheduledRuns.delete(m.id);
        done?.({ outcome: m.outcome, ...(m.error === undefined ? {} : { error: m.error }), cpuMs: m.cpuMs });
        return;
      }
      case 'cache':
        this.#options.onCache(m.name, m.version, m.cache);
        return;
      case 'live': {
        let set = this.#live.get(m.key);
        if (m.state === 'live') {
          if (set === undefined) this.#live.set(m.key, (set = new Set()));
          set.add(h);
        } else if (set !== undefined) {
          set.delete(h);
          if (set.size === 0) this.#live.delete(m.key);
        }
        return;
      }
      case 'acquire':
        this.#admission.acquire(h, m);
        return;
      case 'release':
        this.#admission.release(h, m);
        return;
      case 'pong':
        h.lastPong = performance.now();
        h.stats = m.stats;
        this.#options.onReport?.({ index: h.index, pid: h.child.pid }, m.stats, m.functions);
        this.#finalReports.get(h)?.();
        if (h.state === 'ready' && m.stats.rss > this.#options.rssCapMb * 1024 * 1024) this.#drain(h, `resident memory ${Math.round(m.stats.rss / 1048576)} MB over the ${this.#options.rssCapMb} MB cap`);
        return;
      case 'ready':
        return;
    }
  }

  #onExit(h: IsolateHost, why: string): void {
    const wasDraining = h.state === 'draining';
    h.state = 'dead';
    for (const set of this.#live.values()) set.delete(h);
    this.#admission.forgetHost(h);
    const err = new EdgefnError('ERR_HOST_RESTART', why === WATCHDOG_SIGNAL ? HOST_STUCK_MESSAGE : 'the isolate host serving this request stopped; retry the request');
    // What becomes of each connection depends on what the host had done
    // with it, as far as the front door knows (host/connections.ts):
    // - not yet adopted: the host never read from it, so it is placed again,
    //   its first request head with it, and served by another host;
    // - waiting for a response (reported by a tick): answered 503
    //   host-restart with Retry-After and closed; a host ended by its watchdog
    //   has answered these itself, from its connection table;
    // - a response under way: it can only be cut;
    // - the rest (idle keep-alive connections, and ones whose next request
    //   arrived while the host was stuck, so it is still unread in the
    //   kernel's socket buffer, which the front door's descriptor keeps): read
    //   again by the front door and placed like new connections. Among these
    //   may be a request the host started within a tick of dying, which no
    //   tick reported (a host quiet by its last tick may have taken a request
    //   since). So unless the host was ended by its watchdog, which answered
    //   every started request, a connection that has nothing to read at once
    //   is closed: it is idle, or the host took its request, and the two
    //   cannot be told apart here. It is not answered: its response may have
    //   gone out whole, and a 503 after it would be read as the answer to the
    //   client's next request; nor kept, or a taken request would wait for
    //   an answer until the keep-alive timeout.
    const watchdog = why === WATCHDOG_SIGNAL;
    const answer = rawErrorResponse(err.code, err.message, undefined, RETRY_AFTER);
    const again: Array<[Socket, { head: Uint8Array; key: string }]> = [];
    const readmit: Socket[] = [];
    for (const [id, socket] of h.conns) {
      const first = h.unadopted.get(id);
      if (first !== undefined && !this.#closed) again.push([socket, first]);
      else if (h.waiting.has(id) && !watchdog && socket.writable) answerAndClose(socket, answer);
      else if (h.waiting.has(id) || h.streaming.has(id) || this.#closed || this.#options.readmit === undefined) socket.destroy();
      else readmit.push(socket);
    }
    const closeIfSilent = !watchdog;
    h.conns.clear();
    h.waiting.clear();
    h.streaming.clear();
    h.unadopted.clear();
    for (const ack of h.routeAcks.values()) ack();
    h.routeAcks.clear();
    for (const v of h.validations.values()) v.reject(err);
    h.validations.clear();
    for (const done of h.scheduledRuns.values()) done({ outcome: HTTP_ERRORS[err.code][1], error: err.message, cpuMs: 0 });
    h.scheduledRuns.clear();
    if (this.#closed) return;
    this.#options.onHostEvent?.(`isolate host ${h.index} (pid ${h.child.pid}) ${wasDraining ? 'drained' : 'died'}: ${why}`);
    const i = this.#hosts.indexOf(h);
    if (i >= 0 && !wasDraining) {
      this.restarts++;
      this.#hosts[i] = this.#spawn(h.index);
    } else if (i >= 0) {
      this.#hosts.splice(i, 1);
    }
    for (const [socket, first] of again) this.#place(socket, first.head, first.key, false);
    for (const socket of readmit) this.#options.readmit!(socket, closeIfSilent);
  }

  #drain(h: IsolateHost, why: string): void {
    h.state = 'draining';
    this.#options.onHostEvent?.(`draining isolate host ${h.index} (pid ${h.child.pid}): ${why}`);
    this.#hosts.push(this.#spawn(h.index));
    h.send({ t: 'drain' });
    // Whatever is still running after the longest wall budget is cut off.
    setTimeout(() => h.kill(), this.#options.config.defaults.wallMs + 1000).unref();
  }

  #checkHosts(): void {
    const now = performance.now();
    for (const h of this.#hosts) {
      if (h.state === 'dead' || h.state === 'starting') continue;
      // Inside a long entry it announced, the host cannot answer; its own
      // watchdog ends it if the entry overruns, answering the requests it
      // holds with 503 host-restart first, which a kill from here would not
      // (seen: a function with cpuMs 10000 stuck near its heap limit lost its
      // host at the 10 s hang limit, and its client got a closed socket).
      const inEntry = monotonicMs() < h.entryUntil + WATCHDOG_GRACE_MS + 1000;
      if (now - h.lastPong > this.#options.hangMs && !inEntry) {
        this.#options.onHostEvent?.(`isolate host ${h.index} (pid ${h.child.pid}) did not answer for ${Math.round(now - h.lastPong)} ms; killing it`);
        h.kill();
        continue;
      }
      h.send({ t: 'ping', id: nextId++ });
    }
  }

  /** The unblocked ready host with the fewest connections (blocked ones only when every host is). */
  #fewest(): IsolateHost | undefined {
    const rank = (x: IsolateHost) => (x.blocked() ? 1e9 : 0) + x.conns.size;
    let fewest: IsolateHost | undefined;
    let fewestRank = Infinity;
    for (let i = this.#hosts.length - 1; i >= 0; i--) {
      const h = this.#hosts[i]!;
      // A broken channel is the first sign of a host that died; its 'exit' may come later.
      if (h.state !== 'ready' || h.exited || !h.child.connected) continue;
      const r = rank(h);
      if (r < fewestRank) {
        fewest = h;
        fewestRank = r;
      }
    }
    return fewest;
  }

  /** The lowest ready host where `key` is live and, unless `evenBlocked`, not blocked. */
  #liveHost(key: string, evenBlocked = false): IsolateHost | undefined {
    let best: IsolateHost | undefined;
    for (const h of this.#live.get(key) ?? []) {
      if (h.state === 'ready' && !h.exited && h.child.connected && (evenBlocked || !h.blocked()) && (best === undefined || h.index < best.index)) best = h;
    }
    return best;
  }

  /**
   * Hand a client connection to an isolate host. `head` is what was already
   * read from it. The front door keeps its own descriptor (so that it can
   * answer for a host that dies) until the host says the connection closed.
   */
  adopt(socket: Socket, head: Uint8Array, key: string): void {
    this.#place(socket, head, key, false);
  }

  /**
   * Place a new connection whose first request is for function `key`
   * (name@version; '' when unknown). A keep-alive connection nearly always
   * carries one Host, so the connection goes where that function is already
   * live (the lowest such host, so a function stays in one isolate), unless
   * that host is blocked: its main thread is stuck in a long entry, such as a
   * tenant spinning through its CPU budget, and everything on it waits. Then,
   * or when the function is live nowhere, it goes to the unblocked host with
   * the fewest connections, scanning from the top so that cold placements
   * (spinning tenants whose isolates were discarded among them) fill hosts
   * from the top while warm functions stay low.
   */
  #place(socket: Socket, head: Uint8Array, key: string, looked: boolean, waitedForStart = false): void {
    const live = this.#liveHost(key);
    // When this process itself was late (a loaded machine), the watchdog's
    // word that the entry is over may be sitting unread in its pipe. Before
    // moving a warm function's connection off its host (a cold start
    // elsewhere), read it: one turn of the loop.
    if (!looked && live === undefined && this.#liveHost(key, true) !== undefined) {
      setImmediate(() => this.#place(socket, head, key, true, waitedForStart));
      return;
    }
    const h = live ?? this.#fewest();
    const refuse = (why: string) => answerAndClose(socket, rawErrorResponse('ERR_HOST_RESTART', why, undefined, RETRY_AFTER));
    if (h === undefined) {
      // Every host is starting (all were replaced at once, say): wait for the
      // first to be ready rather than refuse the connection.
      const starting = this.#hosts.filter((x) => x.state === 'starting');
      if (starting.length === 0 || waitedForStart) {
        refuse('no isolate host is ready; retry the request');
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, START_WAIT_MS);
        timer.unref();
      });
      // A host that fails to start rejects its `ready`; the wait ends then too.
      void Promise.race([timeout, ...starting.map((x) => x.ready.catch(() => {}))]).then(() => {
        clearTimeout(timer);
        if (!socket.destroyed) this.#place(socket, head, key, false, true);
      });
      return;
    }
    const id = nextId++;
    h.conns.set(id, socket);
    h.unadopted.set(id, { head, key });
    h.sendConnection(id, head, socket, () => {
      // The host never got the connection: place it again, on another host.
      const had = h.unadopted.delete(id);
      if (h.conns.delete(id) && had) {
        if (waitedForStart) refuse('the isolate host chosen for this connection stopped; retry the request');
        else this.#place(socket, head, key, false, true);
      }
    });
  }

  /**
   * Make `version` (null: deleted) the one every host serves for `name`.
   * Resolves once every ready host has applied it, or after ROUTE_ACK_MS for
   * a host too busy to say so (it applies it before its next request).
   */
  setRoute(name: string, version: number | null, split?: { traffic: TrafficShare[] | null; sticky: StickyKey | null }): Promise<void> {
    return this.#everyHost((id) => (split === undefined ? { t: 'route', id, name, version } : { t: 'route', id, name, version, traffic: split.traffic, sticky: split.sticky }));
  }

  /**
   * Make `patterns` (normalized; [] for none) the custom routes of `name` on
   * every host. Resolves as setRoute does.
   */
  setPatterns(name: string, patterns: readonly string[]): Promise<void> {
    return this.#everyHost((id) => ({ t: 'patterns', id, name, patterns: [...patterns] }));
  }

  /** Send a message to every live host; resolves once each ready one has answered 'routed' (or ROUTE_ACK_MS passed). */
  #everyHost(message: (id: number) => ToHost): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const h of this.#hosts) {
      if (h.state === 'dead') continue;
      const id = nextId++;
      h.send(message(id));
      if (h.state !== 'ready') continue;
      waits.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            h.routeAcks.delete(id);
            resolve();
          }, ROUTE_ACK_MS);
          timer.unref();
          h.routeAcks.set(id, () => {
            clearTimeout(timer);
            resolve();
          });
        }),
      );
    }
    return Promise.all(waits).then(() => {});
  }

  /**
   * The unblocked ready host with the fewest connections; when every host is
   * starting (all were replaced at once, say), the first to be ready, waiting
   * up to START_WAIT_MS for it.
   */
  async #someHost(): Promise<IsolateHost | undefined> {
    const h = this.#fewest();
    const starting = this.#hosts.filter((x) => x.state === 'starting');
    if (h !== undefined || starting.length === 0) return h;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, START_WAIT_MS))), ...starting.map((x) => x.ready.catch(() => {}))]);
    clearTimeout(timer);
    return this.#fewest();
  }

  /** Compile and check a script in a throwaway isolate on some host; resolves with its code cache. */
  async validate(name: string, format: WorkerFormat, code: string, env: Record<string, string>, limits: Partial<Limits>, compatibilityFlags: string[] = []): Promise<Uint8Array | undefined> {
    const h = await this.#someHost();
    if (h === undefined) throw new EdgefnError('ERR_HOST_RESTART', 'no isolate host is ready to validate the script; retry');
    const id = nextId++;
    return new Promise((resolve, reject) => {
      h.validations.set(id, { resolve, reject });
      h.send({ t: 'validate', id, name, format, code, env, limits, ...(compatibilityFlags.length > 0 ? { compatibilityFlags } : {}) });
    });
  }

  /**
   * Run function `name`'s scheduled handler at `version` on the host where it
   * is live (else the least busy one). Resolves with the run's outcome, never
   * rejects: a host that dies meanwhile makes it a 'host-restart'.
   */
  scheduled(name: string, version: number, cron: string, scheduledTime: number): Promise<ScheduledOutcome> {
    const h = this.#liveHost(`${name}@${version}`) ?? this.#fewest();
    if (h === undefined) return Promise.resolve({ outcome: HTTP_ERRORS.ERR_HOST_RESTART[1], error: 'no isolate host is ready', cpuMs: 0 });
    const id = nextId++;
    return new Promise((resolve) => {
      h.scheduledRuns.set(id, resolve);
      h.send({ t: 'scheduled', id, name, version, cron, scheduledTime });
    });
  }

  /** Drop `name`'s warm isolates on every host, but those of the versions in `keep`. */
  forget(name: string, keep?: number[]): void {
    for (const h of this.#hosts) h.send(keep === undefined ? { t: 'forget', name } : { t: 'forget', name, keep });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
    // What the hosts counted since their last pong (usage, metrics) would be
    // lost with them: ask each for a last report, for at most a second.
    await Promise.all(
      this.#hosts
        .filter((h) => h.state === 'ready' || h.state === 'draining')
        .map(
          (h) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 1000);
              this.#finalReports.set(h, () => {
                clearTimeout(timer);
                resolve();
              });
              h.send({ t: 'ping', id: nextId++ });
            }),
        ),
    );
    this.#finalReports.clear();
    this.#admission.close();
    await Promise.all(
      this.#hosts.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.child.exitCode !== null || h.child.signalCode !== null) return resolve();
            h.child.once('exit', () => resolve());
            h.child.disconnect?.();
            setTimeout(() => h.kill(), 2000).unref();
          }),
      ),
    );
  }
}
