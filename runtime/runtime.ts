// The runtime: a pool of prepared isolates, the live set of functions, and the
// request API the router drives. Knows nothing about HTTP or processes.

import { LRUCache } from 'lru-cache';
import { EdgefnError } from './errors.ts';
import { functionKey, type FunctionSource } from './function-source.ts';
import { IsolatePool } from './isolate-pool.ts';
import { LazyModules } from './lazy-modules.ts';
import { LiveIsolate, type ColdBreakdown } from './live-isolate.ts';
import { buildPrelude, type Prelude } from './prelude.ts';
import { loadSnapshot, type SnapshotResult } from './snapshot.ts';
import type { RequestHandle, ResponseSink, RuntimeRequest } from './request-types.ts';

import { BUILTIN_OPS, BUILTIN_SYNC_OPS, type HostOp, type HostOpSync } from './host-ops/index.ts';
import { createFetchOps, type FetchOptions } from './host-ops/index.ts';
import { createCacheOps, type CacheOptions } from './host-ops/index.ts';
import { createWebSocketOps } from './host-ops/index.ts';
export type { HostOp, HostOpSync, OpContext } from './host-ops/index.ts';

export interface RuntimeOptions {
  /** Where the snapshot file is kept; undefined keeps it in memory only. */
  snapshotDir?: string | undefined;
  /** The prelude to snapshot; built from runtime/webapi when omitted. */
  prelude?: Prelude | undefined;
  /** Prepared isolates kept ready. Default 8. */
  poolSize?: number;
  /** Memory limit of pooled isolates in MB (the node's default limit). Default 128. */
  poolMemoryMb?: number;
  /** Live isolates kept at most, by count. Default 1000. */
  maxLive?: number;
  /** Live isolates kept at most, by total heap size in MB. Default 2048. */
  maxLiveMb?: number;
  /** CPU budget for a script's top level and handler binding, in ms. Default 1000. */
  startupCpuMs?: number;
  /** Finds a function's source on a cold start. */
  source(name: string, version: number): FunctionSource | undefined;
  /** Receives the function's console output and uncaught errors. */
  log?(fn: FunctionSource, level: string, message: string, requestId: string | undefined): void;
  /** A code cache was made on a cold load (none given, or it was rejected): persist it. */
  codeCache?(fn: FunctionSource, cache: Uint8Array): void;
  /** Live-set changes, for placement: 'live' after a cold load, 'gone' after eviction or death. */
  liveness?(key: string, state: 'live' | 'gone'): void;
  /** Async host operations the in-isolate APIs may call, by name. */
  hostOps?: Record<string, HostOp>;
  hostOpsSync?: Record<string, HostOpSync>;
  /** Outbound fetch(): subrequest budget, timeout, SSRF allow-list (see host-ops/fetch.ts for units and defaults). */
  fetch?: FetchOptions | undefined;
  /** The Cache API's store: file, total and per-entry bytes (see host-ops/cache.ts for defaults). */
  cache?: CacheOptions | undefined;
}

export interface RuntimeStats {
  snapshotPath: 'snapshot' | 'prelude';
  snapshotReason: string | undefined;
  live: number;
  liveHeapBytes: number;
  poolReady: number;
  poolMisses: number;
  coldStarts: number;
  evictions: number;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new EdgefnError('ERR_INVALID_INPUT', `${name} must be a positive integer, got ${v}`);
  return v;
}

export class Runtime {
  readonly #options: RuntimeOptions;
  readonly #pool: IsolatePool;
  readonly #snapshot: SnapshotResult;
  readonly #live: LRUCache<string, LiveIsolate>;
  readonly #startupCpuMs: number;
  readonly #ops: Record<string, HostOp>;
  readonly #opsSync: Record<string, HostOpSync>;
  readonly #closeCache: () => void;
  readonly #lazyModules: LazyModules;
  #closed = false;
  #inDispose = false;
  #coldStarts = 0;
  #evictions = 0;
  /** The last cold load's breakdown, for benchmarks. */
  lastCold: (ColdBreakdown & { totalMs: number }) | undefined;

  static async create(options: RuntimeOptions): Promise<Runtime> {
    const prelude = options.prelude ?? (await buildPrelude());
    return new Runtime(options, prelude);
  }

  private constructor(options: RuntimeOptions, prelude: Prelude) {
    this.#options = options;
    this.#startupCpuMs = positiveInt('startupCpuMs', options.startupCpuMs, 1000);
    const maxLive = positiveInt('maxLive', options.maxLive, 1000);
    const maxLiveMb = positiveInt('maxLiveMb', options.maxLiveMb, 2048);
    const cache = createCacheOps(options.cache);
    this.#closeCache = cache.close;
    const webSockets = createWebSocketOps({ allow: options.fetch?.allow, subrequests: options.fetch?.subrequests, timeoutMs: options.fetch?.timeoutMs, lookup: options.fetch?.lookup });
    this.#ops = { ...BUILTIN_OPS, ...createFetchOps(options.fetch), ...cache.ops, ...webSockets.ops, ...options.hostOps };
    this.#opsSync = { ...BUILTIN_SYNC_OPS, ...webSockets.sync, ...options.hostOpsSync };
    this.#snapshot = loadSnapshot(prelude, options.snapshotDir);
    this.#lazyModules = new LazyModules(prelude.lazy);
    if (this.#snapshot.path === 'prelude') {
      console.warn(`edgefn: V8 snapshot unavailable (${this.#snapshot.reason}); every isolate will evaluate the prelude itself`);
    }
    this.#pool = new IsolatePool({ snapshot: this.#snapshot, prelude, size: options.poolSize ?? 8, memoryMb: options.poolMemoryMb ?? 128 });
    this.#live = new LRUCache<string, LiveIsolate>({
      max: maxLive,
      maxSize: maxLiveMb * 1024 * 1024,
      sizeCalculation: (live) => Math.max(1, live.heapBytes),
      dispose: (live, key, reason) => {
        if (reason === 'evict') this.#evictions++;
        // lru-cache is mid-removal here: the isolate's own `gone` hook must not touch the cache.
        this.#inDispose = true;
        try {
          live.retire();
        } finally {
          this.#inDispose = false;
        }
        this.#options.liveness?.(key, 'gone');
      },
    });
  }

  get snapshotPath(): 'snapshot' | 'prelude' {
    return this.#snapshot.path;
  }

  /** Fill the pool now instead of in the background. */
  warmPool(): void {
    this.#pool.fillSync();
  }

  stats(): RuntimeStats {
    return {
      snapshotPath: this.#snapshot.path,
      snapshotReason: this.#snapshot.reason,
      live: this.#live.size,
      liveHeapBytes: this.#live.calculatedSize,
      poolReady: this.#pool.ready,
      poolMisses: this.#pool.misses,
      coldStarts: this.#coldStarts,
      evictions: this.#evictions,
    };
  }

  isLive(name: string, version: number): boolean {
    return this.#live.has(functionKey(name, version));
  }

  #hooks(): ConstructorParameters<typeof LiveIsolate>[2] {
    return {
      log: (fn, level, message, requestId) => this.#options.log?.(fn, level, message, requestId),
      hostOp: (op, payload, ctx) => {
        const f = this.#ops[op];
        return f === undefined ? Promise.reject(new TypeError(`unknown host operation ${op}`)) : f(payload, ctx);
      },
      hostOpSync: (op, payload, ctx) => {
        const f = this.#opsSync[op];
        if (f === undefined) throw new TypeError(`unknown host operation ${op}`);
        return f(payload, ctx);
      },
      gone: (live) => {
        if (this.#inDispose) return;
        const key = functionKey(live.fn.name, live.fn.version);
        if (this.#live.get(key, { updateAgeOnGet: false }) === live) this.#live.delete(key);
      },
      codeCache: (fn, cache) => this.#options.codeCache?.(fn, cache),
      lazyModules: this.#lazyModules,
      startupCpuMs: this.#startupCpuMs,
    };
  }

  /**
   * Serve one request of function `name` at `version`. Errors (not found,
   * compile, budgets) arrive through sink.fail with a stable code.
   */
  handle(name: string, version: number, req: RuntimeRequest, sink: ResponseSink): RequestHandle | undefined {
    const got = this.#liveFor(name, version, sink);
    return got === undefined ? undefined : got.live.handle(req, sink, got.coldMs);
  }

  /**
   * Run function `name`'s scheduled handler at `version`, in its live isolate
   * (made live if it is not). The outcome arrives through sink.fail (an
   * exception, a budget) and sink.done, as for a request.
   */
  scheduled(name: string, version: number, cron: string, scheduledTime: number, sink: ResponseSink): void {
    const got = this.#liveFor(name, version, sink);
    if (got === undefined) sink.done?.({ cpuMs: 0 });
    else got.live.scheduled(cron, scheduledTime, sink, got.coldMs);
  }

  /**
   * The function's live isolate, made live (a cold start, timed) if it is
   * not; undefined once `sink` was told why there is none.
   */
  #liveFor(name: string, version: number, sink: ResponseSink): { live: LiveIsolate; coldMs: number | undefined } | undefined {
    if (this.#closed) {
      sink.fail(new EdgefnError('ERR_CLOSED', 'runtime is closed'), { cpuMs: 0 });
      return undefined;
    }
    this.#pool.noteActivity();
    const live = this.#live.get(functionKey(name, version));
    if (live !== undefined && live.alive) return { live, coldMs: undefined };
    const t0 = performance.now();
    let loaded: LiveIsolate;
    try {
      loaded = this.#load(name, version, t0);
    } catch (err) {
      sink.fail(err instanceof EdgefnError ? err : new EdgefnError('ERR_INTERNAL', String(err), { cause: err }), { cpuMs: 0 });
      return undefined;
    }
    const coldMs = performance.now() - t0;
    if (loaded.cold !== undefined) this.lastCold = { ...loaded.cold, totalMs: coldMs };
    return { live: loaded, coldMs };
  }

  #load(name: string, version: number, t0: number): LiveIsolate {
    const fn = this.#options.source(name, version);
    if (fn === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function ${name} at version ${version}`);
    const prepared = this.#pool.take(fn.limits.memoryMb);
    const live = new LiveIsolate(fn, prepared, this.#hooks());
    live.load(performance.now() - t0);
    live.measure();
    this.#coldStarts++;
    const key = functionKey(name, version);
    this.#live.set(key, live);
    this.#options.liveness?.(key, 'live');
    return live;
  }

  /**
   * Deploy-time check in a throwaway isolate: compile, run the top level, find
   * the fetch handler. Returns a code cache that every isolate of this
   * snapshot accepts. Never leaves the function live.
   */
  validate(fn: FunctionSource): Uint8Array | undefined {
    if (this.#closed) throw new EdgefnError('ERR_CLOSED', 'runtime is closed');
    const prepared = this.#pool.take(fn.limits.memoryMb);
    const live = new LiveIsolate(fn, prepared, { ...this.#hooks(), gone: () => {}, codeCache: () => {} });
    try {
      return live.load(0, true);
    } finally {
      live.destroy(new EdgefnError('ERR_CLOSED', 'validation isolate'));
    }
  }

  /**
   * Drop every live isolate of `name` (a new version was deployed, or it was
   * deleted), except those of the versions in `keep` (a rollout still sends
   * them traffic).
   */
  forget(name: string, keep: readonly number[] = []): void {
    const kept = new Set(keep.map((v) => functionKey(name, v)));
    for (const key of [...this.#live.keys()]) if (key.startsWith(`${name}@`) && !kept.has(key)) this.#live.delete(key);
  }

  /** Stop taking requests and let in-flight ones finish on their isolates. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.close();
    this.#live.clear();
  }

  /** Stop now: in-flight requests fail with ERR_CLOSED. */
  destroy(): void {
    const lives = [...this.#live.values()];
    this.close();
    for (const l of lives) l.destroy(new EdgefnError('ERR_CLOSED', 'runtime destroyed'));
    // After the isolates: their requests' cache reads close as they end.
    this.#closeCache();
  }
}
