// Messages between the front door and its isolate-host processes (Node IPC
// with the 'advanced' serializer, so Uint8Array payloads cross without base64).
//
// Requests do not travel over IPC. The front door accepts each TCP connection,
// reads just enough of its first request head to know which function it is
// for, and hands the socket itself to an isolate host ('conn', with the socket
// as the message's handle). From then on the host parses HTTP on that
// connection and answers it directly: a warm request never crosses a process.
// What still crosses is rare or slow: deploy-time validation, route changes,
// code caches, logs, liveness for placement, pings, and every few ms while a
// host is serving and the list changed, a 'tick' that says which of its
// connections have a request that has been in flight for a while (so that
// if the host dies, those requests can still be answered with 503
// host-restart by the front door, which keeps its own descriptor of every
// connection it handed over).

import type { ErrorCode, Limits, Prelude, RuntimeStats, WorkerFormat } from '../runtime/index.ts';
import type { NodeFetchConfig } from './config.ts';
import type { StickyKey, TrafficShare } from '../sdk/wire.ts';
import type { FunctionReport } from './function-report.ts';

export interface HostConfig {
  dbPath: string;
  /** The node's KV store (router/kv-store.ts), which hosts open read-write. */
  kvPath: string;
  /** A cluster node's PostgreSQL, where KV writes go first (router/cluster/kv-replica.ts); undefined on a standalone node. */
  databaseUrl?: string | undefined;
  snapshotDir: string;
  prelude: Prelude;
  defaults: Limits;
  baseDomain: string;
  poolSize: number;
  maxLive: number;
  maxLiveMb: number;
  startupCpuMs: number;
  fetch: NodeFetchConfig;
  /** The Cache API's file and bounds (bytes); every host of the node opens the same file. */
  cache: { path: string; maxBytes: number; maxEntryBytes: number };
  /** Resident memory at which the host's watchdog thread ends the process at once, in MB. */
  hardRssMb: number;
  /** node:http timeouts for the connections the host serves, in ms. */
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  /** Bound on receiving a whole request, head and body (0: none). */
  requestTimeoutMs: number;
  /** A cluster node's region, named in every answer's `edgefn-region`; undefined on a standalone node. */
  region: string | undefined;
  /**
   * Bounds on workers' WebSockets (router/config.ts NodeWebSocketConfig); absent: the defaults.
   * The host reads the byte bounds; the wall time reaches functions through
   * `defaults.websocketWallMs` (a function may set its own), not from here.
   */
  webSocket?: { wallMs: number; maxMessageBytes: number; maxBufferedBytes: number } | undefined;
}

/**
 * Messages are sent in batches: everything one side produces in one turn of
 * its event loop travels as one IPC message (one serialization, one write,
 * one wake-up on the other side).
 */
export type Batch<T> = { t: 'batch'; m: T[] };

export type ToHost =
  | { t: 'init'; config: HostConfig }
  /** A connection, sent with its socket as the IPC handle; `head` is what the front door already read from it. */
  | { t: 'conn'; id: number; head: Uint8Array }
  /**
   * The current version of a function (null: deleted), and during a gradual
   * rollout the split of its traffic (absent or null: all to `version`).
   * Answered with 'routed' once in effect.
   */
  | { t: 'route'; id: number; name: string; version: number | null; traffic?: TrafficShare[] | null; sticky?: StickyKey | null }
  /** The custom routes of a function (router/route-table.ts; [] removes them). Answered with 'routed' once in effect. */
  | { t: 'patterns'; id: number; name: string; patterns: string[] }
  | { t: 'validate'; id: number; name: string; format: WorkerFormat; code: string; env: Record<string, string>; limits: Partial<Limits>; compatibilityFlags?: string[] }
  /** Drop the function's warm isolates, except those of the versions in `keep` (still receiving traffic). */
  | { t: 'forget'; name: string; keep?: number[] }
  /** The front door's data-plane URL, once it listens (cluster nodes only: see router/host/reroute.ts). */
  | { t: 'front'; url: string }
  /** Stop keeping connections alive; exit once none is left. */
  | { t: 'drain' }
  | { t: 'ping'; id: number }
  /**
   * The answer to an 'acquire' (router/admission.ts): what the host may add to
   * its holdings; `retryAfterSec` for the requests it must refuse; and, when
   * the bucket is empty, in how many ms it holds a whole token again.
   */
  | { t: 'grant'; id: number; slots: number; tokens: number; retryAfterSec: number; dryMs: number }
  /** Another host needs `name`'s capacity: give back what is held and idle ('release'). */
  | { t: 'reclaim'; name: string }
  /** Run function `name`'s scheduled handler at `version`; answered with 'scheduled-done'. */
  | { t: 'scheduled'; id: number; name: string; version: number; cron: string; scheduledTime: number };

/** A host's runtime counters (without the fallback reason, sent once in 'ready') and its resident memory and connections. */
export type HostStats = Omit<RuntimeStats, 'snapshotReason'> & { rss: number; connections: number };

export type FromHost =
  | { t: 'ready'; snapshotPath: 'snapshot' | 'prelude'; snapshotReason?: string | undefined }
  | { t: 'routed'; id: number }
  /**
   * Sent every TICK_MS while the host has requests in flight, and once more
   * when it has none (`quiet`). `waiting`: connections whose request has been
   * in flight for over TICK_MS and has no response head yet; `streaming`:
   * those whose head has gone out.
   */
  | { t: 'tick'; waiting: number[]; streaming: number[]; quiet: boolean }
  /**
   * The host has taken connection `id`, before reading anything from it.
   * Until this arrives, the connection's first request (always in flight at
   * hand-over) is certainly unanswered: if the host dies first, the front door
   * answers it.
   */
  | { t: 'adopted'; id: number }
  /**
   * The main thread is about to enter an isolate for up to `until` (CLOCK_MONOTONIC ms, runtime's monotonicMs: the same clock in every process),
   * longer than LONG_ENTRY_MS: it will not answer pings meanwhile, and its
   * own watchdog ends it if it is still inside that entry WATCHDOG_GRACE_MS later.
   */
  | { t: 'long-entry'; until: number }
  /** A connection the host was handed is closed; the front door drops its descriptor. */
  | { t: 'closed'; id: number }
  /** A draining host has no connection left. */
  | { t: 'drained' }
  | { t: 'validated'; id: number; ok: true; cache: Uint8Array | undefined }
  | { t: 'validated'; id: number; ok: false; code: ErrorCode; message: string }
  /** A console line or uncaught error: `time` is when it was written (ms since the epoch), `requestId` the request whose code wrote it. */
  | { t: 'log'; name: string; version: number; level: string; message: string; time: number; requestId: string | undefined }
  | { t: 'live'; key: string; state: 'live' | 'gone' }
  | { t: 'cache'; name: string; version: number; cache: Uint8Array }
  /** `functions`: what the host served since its last pong, per function version (function-report.ts). */
  | { t: 'pong'; id: number; stats: HostStats; functions: FunctionReport[] }
  /**
   * More of `name`'s node-wide admission capacity (router/admission.ts):
   * `slots` concurrency slots and `tokens` rate tokens, under the function's
   * current limits (0: unlimited). Answered with 'grant'.
   */
  | { t: 'acquire'; id: number; name: string; concurrency: number; rps: number; slots: number; tokens: number }
  /** Capacity of `name` the host gives back: its answer to a 'reclaim' (`reply`), or unasked past a lowered limit. */
  | { t: 'release'; name: string; slots: number; tokens: number; reply: boolean }
  /** A scheduled run is over: `outcome` 'ok' or an `edgefn-error` value ('exception', 'cpu-limit', …). */
  | { t: 'scheduled-done'; id: number; outcome: string; error?: string | undefined; cpuMs: number };

/** How often an active host reports its long-running requests, in ms. */
export const TICK_MS = 2;

/**
 * A host whose main thread has been inside one isolate entry this long is
 * blocked (a tenant spinning through its CPU budget, say): everything else
 * on it waits, so new connections are placed elsewhere until it comes out.
 * Its watchdog thread reports both on the host's blocked pipe (ms).
 */
export const BLOCKED_ENTRY_MS = 100;
/** The host's file descriptor for that pipe (stdio index 4; 3 is the IPC channel). */
export const BLOCKED_FD = 4;

/** Entries that may run longer than this (ms) are announced with 'long-entry'. */
export const LONG_ENTRY_MS = 1_000;
/** How long past an entry's deadline the host's watchdog lets the main thread stay in it (ms). */
export const WATCHDOG_GRACE_MS = 1_000;
