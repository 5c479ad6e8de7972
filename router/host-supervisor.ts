// Starts, watches and replaces the isolate-host processes, and places each
// request on one of them. A host that exits, stops answering pings, or grows
// past its memory cap is replaced; requests in flight on a dead host fail at
// once with ERR_HOST_RESTART rather than hanging.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EdgefnError, type Limits, type RequestHandle, type ResponseSink, type RuntimeRequest, type WorkerFormat } from '../runtime/index.ts';
import { WATCHDOG_SIGNAL } from './host-watchdog.ts';
import type { Batch, FromHost, HostConfig, HostStats, ToHost } from './host-protocol.ts';

const HOST_MAIN = fileURLToPath(new URL('./isolate-host.ts', import.meta.url));

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
  onLog(name: string, level: string, message: string): void;
  onCache(name: string, version: number, cache: Uint8Array): void;
  onHostEvent?(event: string): void;
}

interface Pending {
  sink: ResponseSink;
  /** performance.now() when the request was sent to the host. */
  since: number;
}

/** A host whose oldest request in flight is older than this is treated as blocked (ms). */
const BLOCKED_MS = 2;

let nextId = 1;

/**
 * V8 flags for isolate-host processes. `--wasm-max-mem-pages` caps every
 * WebAssembly.Memory in the process (64 KiB pages; checked with
 * `node --v8-options` on Node 24 / V8 13.6, default 2^32-1). It is the guard
 * inside one long entry, where wasm `memory.grow` runs before the after-entry
 * check (runtime/webapi/wasm.ts) can see it. The flag is process-wide, so it
 * is the node's default memory limit: a function with a larger limit still
 * gets at most that much per memory. Past all of this, the supervisor's RSS
 * cap (rssCapMb) drains and replaces the whole host.
 */
export function hostExecArgv(config: HostConfig): string[] {
  return [`--wasm-max-mem-pages=${Math.ceil(config.defaults.memoryMb * 16)}`];
}

class IsolateHost {
  readonly child: ChildProcess;
  readonly index: number;
  readonly inflight = new Map<number, Pending>();
  readonly validations = new Map<number, { resolve(cache: Uint8Array | undefined): void; reject(err: EdgefnError): void }>();
  state: 'starting' | 'ready' | 'draining' | 'dead' = 'starting';
  lastPong = Date.now();
  stats: HostStats | undefined;
  snapshotPath: 'snapshot' | 'prelude' | undefined;
  readonly ready: Promise<void>;

  constructor(index: number, config: HostConfig, onMessage: (h: IsolateHost, m: FromHost) => void, onExit: (h: IsolateHost, why: string) => void) {
    this.index = index;
    this.child = fork(HOST_MAIN, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
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
        this.lastPong = Date.now();
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
    this.child.once('exit', (code, signal) => onExit(this, signal ?? `exit code ${code}`));
    this.child.on('error', () => {});
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

  /** How long the oldest request in flight has waited, in ms (0 when none). Map order is insertion order. */
  oldestAge(now: number): number {
    for (const p of this.inflight.values()) return now - p.since;
    return 0;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export class HostSupervisor {
  readonly #options: SupervisorOptions;
  readonly #hosts: IsolateHost[] = [];
  /** function key (name@version) → hosts where it is live. */
  readonly #live = new Map<string, Set<IsolateHost>>();
  readonly #ping: NodeJS.Timeout;
  #closed = false;
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

  hostStats(): Array<{ index: number; pid: number | undefined; state: string; inflight: number; stats: HostStats | undefined }> {
    return this.#hosts.map((h) => ({ index: h.index, pid: h.child.pid, state: h.state, inflight: h.inflight.size, stats: h.stats }));
  }

  /** For tests and operators: the pid of the host serving function key, if live. */
  pidsFor(key: string): number[] {
    return [...(this.#live.get(key) ?? [])].map((h) => h.child.pid ?? -1);
  }

  #spawn(index: number): IsolateHost {
    return new IsolateHost(index, this.#options.config, (h, m) => this.#onMessage(h, m), (h, why) => this.#onExit(h, why));
  }

  #onMessage(h: IsolateHost, m: FromHost): void {
    switch (m.t) {
      case 'head': {
        const p = h.inflight.get(m.id);
        if (p === undefined) return;
        p.sink.head(m.status, m.headers, m.body, m.timing);
        if (m.done !== undefined) this.#onMessage(h, { t: 'done', id: m.id, timing: m.done });
        return;
      }
      case 'chunk':
        h.inflight.get(m.id)?.sink.chunk(m.bytes);
        return;
      case 'end':
        h.inflight.get(m.id)?.sink.end();
        return;
      case 'fail':
        h.inflight.get(m.id)?.sink.fail(new EdgefnError(m.code, m.message), m.timing);
        return;
      case 'pull':
        h.inflight.get(m.id)?.sink.pull?.();
        return;
      case 'done': {
        const p = h.inflight.get(m.id);
        h.inflight.delete(m.id);
        p?.sink.done?.(m.timing);
        if (h.state === 'draining' && h.inflight.size === 0) h.kill();
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
        this.#options.onLog(m.name, m.level, m.message);
        return;
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
      case 'pong':
        h.lastPong = Date.now();
        h.stats = m.stats;
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
    const err = new EdgefnError(
      'ERR_HOST_RESTART',
      why === WATCHDOG_SIGNAL
        ? 'an isolate on the host serving this request could not be stopped (runaway allocation or a stuck engine), so the host was replaced; retry the request'
        : 'the isolate host serving this request stopped; retry the request',
    );
    for (const p of h.inflight.values()) {
      p.sink.fail(err, { cpuMs: 0 });
      p.sink.done?.({ cpuMs: 0 });
    }
    h.inflight.clear();
    for (const v of h.validations.values()) v.reject(err);
    h.validations.clear();
    if (this.#closed) return;
    this.#options.onHostEvent?.(`isolate host ${h.index} (pid ${h.child.pid}) ${wasDraining ? 'drained' : 'died'}: ${why}`);
    const i = this.#hosts.indexOf(h);
    if (i >= 0 && !wasDraining) {
      this.restarts++;
      this.#hosts[i] = this.#spawn(h.index);
    } else if (i >= 0) {
      this.#hosts.splice(i, 1);
    }
  }

  #drain(h: IsolateHost, why: string): void {
    h.state = 'draining';
    this.#options.onHostEvent?.(`draining isolate host ${h.index} (pid ${h.child.pid}): ${why}`);
    this.#hosts.push(this.#spawn(h.index));
    if (h.inflight.size === 0) h.kill();
    // Whatever is still running after the longest wall budget is cut off.
    setTimeout(() => h.kill(), this.#options.config.defaults.wallMs + 1000).unref();
  }

  #checkHosts(): void {
    const now = Date.now();
    for (const h of this.#hosts) {
      if (h.state === 'dead' || h.state === 'starting') continue;
      if (now - h.lastPong > this.#options.hangMs) {
        this.#options.onHostEvent?.(`isolate host ${h.index} (pid ${h.child.pid}) did not answer for ${now - h.lastPong} ms; killing it`);
        h.kill();
        continue;
      }
      h.send({ t: 'ping', id: nextId++ });
    }
  }

  /**
   * Prefer a host where the function is live, unless that host looks blocked:
   * its oldest request in flight has waited more than BLOCKED_MS. A host's
   * main thread runs one isolate entry at a time, so a tenant spinning through
   * its CPU budget there makes everything queued behind it wait up to that
   * budget; a warm function is then better sent to the idlest host (one cold
   * start there, then it is live on both). Keeping a busy function on one host
   * otherwise keeps its requests batched together over IPC.
   */
  #pick(key: string): IsolateHost | undefined {
    const now = performance.now();
    let idlest: IsolateHost | undefined;
    let idlestAge = Infinity;
    // Scanned from the last host down, so that cold placements (among them
    // tenants whose isolate was just discarded for spinning) fill hosts from
    // the top while warm functions stay on the lowest idle index.
    for (let i = this.#hosts.length - 1; i >= 0; i--) {
      const h = this.#hosts[i]!;
      if (h.state !== 'ready') continue;
      const age = h.oldestAge(now);
      if (idlest === undefined || age < idlestAge || (age === idlestAge && h.inflight.size < idlest.inflight.size)) {
        idlest = h;
        idlestAge = age;
      }
    }
    if (idlest === undefined) return undefined;
    let best: IsolateHost | undefined;
    for (const h of this.#live.get(key) ?? []) {
      // The same host every time (lowest index) while it keeps up: spreading a
      // hot function over hosts only adds IPC wake-ups on 2 cores.
      if (h.state === 'ready' && h.oldestAge(now) < BLOCKED_MS && (best === undefined || h.index < best.index)) best = h;
    }
    return best ?? idlest;
  }

  request(name: string, version: number, req: RuntimeRequest, sink: ResponseSink): RequestHandle | undefined {
    const h = this.#pick(`${name}@${version}`);
    if (h === undefined) {
      sink.fail(new EdgefnError('ERR_HOST_RESTART', 'no isolate host is ready; retry the request'), { cpuMs: 0 });
      return undefined;
    }
    const id = nextId++;
    h.inflight.set(id, { sink, since: performance.now() });
    h.send({ t: 'req', id, name, version, method: req.method, url: req.url, headers: req.headers, body: req.body });
    return {
      pushBody: (chunk) => h.send({ t: 'body', id, chunk }),
      cancel: (reason) => {
        if (h.inflight.has(id)) h.send({ t: 'cancel', id, reason });
      },
      ackResponse: (bytes) => {
        if (h.inflight.has(id)) h.send({ t: 'ack', id, bytes });
      },
    };
  }

  /** Compile and check a script in a throwaway isolate on some host; resolves with its code cache. */
  validate(name: string, format: WorkerFormat, code: string, env: Record<string, string>, limits: Partial<Limits>): Promise<Uint8Array | undefined> {
    const h = this.#pick('');
    if (h === undefined) return Promise.reject(new EdgefnError('ERR_HOST_RESTART', 'no isolate host is ready to validate the script; retry'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      h.validations.set(id, { resolve, reject });
      h.send({ t: 'validate', id, name, format, code, env, limits });
    });
  }

  forget(name: string): void {
    for (const h of this.#hosts) h.send({ t: 'forget', name });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
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
