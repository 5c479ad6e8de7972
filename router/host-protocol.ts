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
// host is serving, a 'tick' that says which of its connections have a request
// that has been in flight for a while (so that if the host dies, those
// requests can still be answered with 503 host-restart by the front door,
// which keeps its own descriptor of every connection it handed over).

import type { ErrorCode, Limits, Prelude, RuntimeStats, WorkerFormat } from '../runtime/index.ts';
import type { NodeFetchConfig } from './config.ts';

export interface HostConfig {
  dbPath: string;
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
  /** A cluster node's region, named in every answer's `edgefn-region`; undefined on a standalone node. */
  region: string | undefined;
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
  /** The current version of a function (null: deleted). Answered with 'routed' once in effect. */
  | { t: 'route'; id: number; name: string; version: number | null }
  | { t: 'validate'; id: number; name: string; format: WorkerFormat; code: string; env: Record<string, string>; limits: Partial<Limits> }
  | { t: 'forget'; name: string }
  /** The front door's data-plane URL, once it listens (cluster nodes only: see router/host/reroute.ts). */
  | { t: 'front'; url: string }
  /** Stop keeping connections alive; exit once none is left. */
  | { t: 'drain' }
  | { t: 'ping'; id: number };

/** A host's runtime counters (without the fallback reason, sent once in 'ready') and its resident memory and connections. */
export type HostStats = Omit<RuntimeStats, 'snapshotReason'> & { rss: number; connections: number };

export type FromHost =
  | { t: 'ready'; snapshotPath: 'snapshot' | 'prelude'; snapshotReason?: string | undefined }
  | { t: 'routed'; id: number }
  /**
   * Sent every TICK_MS while the host has requests in flight, and once more
   * when it has none (`quiet`). `waiting`: connections whose request has been
   * in flight for over TICK_MS and has no response head yet; `streaming`:
   * those whose head has gone out. A host that stops ticking while it is
   * active is blocked (a tenant spinning through its budget, say), if its
   * main thread kept running meanwhile: `ran` is how long it had run when
   * the tick was sent (ms, the kernel's account; undefined off Linux).
   */
  | { t: 'tick'; waiting: number[]; streaming: number[]; quiet: boolean; ran: number | undefined }
  /**
   * The host has taken connection `id`, before reading anything from it.
   * Until this arrives, the connection's first request (always in flight at
   * hand-over) is certainly unanswered: if the host dies first, the front door
   * answers it.
   */
  | { t: 'adopted'; id: number }
  /** A connection the host was handed is closed; the front door drops its descriptor. */
  | { t: 'closed'; id: number }
  /** A draining host has no connection left. */
  | { t: 'drained' }
  | { t: 'validated'; id: number; ok: true; cache: Uint8Array | undefined }
  | { t: 'validated'; id: number; ok: false; code: ErrorCode; message: string }
  | { t: 'log'; name: string; level: string; message: string }
  | { t: 'live'; key: string; state: 'live' | 'gone' }
  | { t: 'cache'; name: string; version: number; cache: Uint8Array }
  | { t: 'pong'; id: number; stats: HostStats };

/** How often an active host reports its long-running requests, in ms. */
export const TICK_MS = 2;
