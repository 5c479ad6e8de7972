// Messages between the front door and its isolate-host processes (Node IPC
// with the 'advanced' serializer, so Uint8Array bodies cross without base64).

import type { ErrorCode, Limits, Prelude, RuntimeStats, Timing, WorkerFormat } from '../runtime/index.ts';
import type { NodeFetchConfig } from './config.ts';

export interface HostConfig {
  dbPath: string;
  snapshotDir: string;
  prelude: Prelude;
  defaults: Limits;
  poolSize: number;
  maxLive: number;
  maxLiveMb: number;
  startupCpuMs: number;
  fetch: NodeFetchConfig;
  /** Resident memory at which the host's watchdog thread ends the process at once, in MB. */
  hardRssMb: number;
}

/**
 * Messages are sent in batches: everything one side produces in one turn of
 * its event loop travels as one IPC message (one serialization, one write,
 * one wake-up on the other side). Under load that is most of the cost of a
 * request's trip through the front door.
 */
export type Batch<T> = { t: 'batch'; m: T[] };

export type ToHost =
  | { t: 'init'; config: HostConfig }
  | { t: 'req'; id: number; name: string; version: number; method: string; url: string; headers: string[]; body: Uint8Array | null | 'stream' }
  | { t: 'body'; id: number; chunk: Uint8Array | null }
  | { t: 'cancel'; id: number; reason: string }
  | { t: 'ack'; id: number; bytes: number }
  | { t: 'validate'; id: number; name: string; format: WorkerFormat; code: string; env: Record<string, string>; limits: Partial<Limits> }
  | { t: 'forget'; name: string }
  | { t: 'ping'; id: number };

/** A host's runtime counters (without the fallback reason, sent once in 'ready') and its resident memory. */
export type HostStats = Omit<RuntimeStats, 'snapshotReason'> & { rss: number };

export type FromHost =
  | { t: 'ready'; snapshotPath: 'snapshot' | 'prelude'; snapshotReason?: string | undefined }
  // `done` rides on the head when the request finished before the head left
  // the host (a whole body and no waitUntil work): one message instead of two.
  | { t: 'head'; id: number; status: number; headers: string[]; body: Uint8Array | null | 'stream'; timing: Timing; done?: Timing }
  | { t: 'chunk'; id: number; bytes: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'fail'; id: number; code: ErrorCode; message: string; timing: Timing }
  | { t: 'pull'; id: number }
  | { t: 'done'; id: number; timing: Timing }
  | { t: 'validated'; id: number; ok: true; cache: Uint8Array | undefined }
  | { t: 'validated'; id: number; ok: false; code: ErrorCode; message: string }
  | { t: 'log'; name: string; level: string; message: string }
  | { t: 'live'; key: string; state: 'live' | 'gone' }
  | { t: 'cache'; name: string; version: number; cache: Uint8Array }
  | { t: 'pong'; id: number; stats: HostStats };
