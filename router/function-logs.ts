// The last lines each function wrote (console output, uncaught errors), kept in
// the front door's memory and served by GET /v1/functions/{name}/logs and its
// live tail. A function only ever sees its own log: lines are keyed by the
// host's record of which function's isolate wrote them, never by anything the
// worker says.
//
// Each function's log is bounded in bytes (maxBytes), not lines: one function
// printing 8 KB lines must not hold 200 × 8 KB while another's one-word lines
// are cut at 200. Every line gets a cursor from one node-wide sequence, so
// "everything after cursor N" is a plain comparison and a tail that
// reconnects with Last-Event-ID misses nothing still kept.

import { EdgefnError } from '../runtime/index.ts';
import type { LogEntry } from '../sdk/wire.ts';

/** Longest message kept, in characters; the host already cuts lines at this length. */
const MAX_MESSAGE_CHARS = 8192;
/** What a line costs besides its text (the object, its time, level and ids), bytes. */
const LINE_OVERHEAD_BYTES = 96;

export interface LogLine {
  level: string;
  message: string;
  /** Function version that wrote it. */
  version?: number | undefined;
  /** ms since the epoch when it was written; default now. */
  time?: number | undefined;
  requestId?: string | undefined;
}

/** Where a read starts: after a cursor (a line's `id`), or at a time. */
export type LogSince = { cursor: number } | { time: number };

export interface FunctionLogsOptions {
  /** Bytes of log kept per function (text plus ~96 bytes a line). Default 262144 (256 KB). */
  maxBytes?: number;
  /** Also print every line to stdout. Default false. */
  echo?: boolean;
}

interface Kept {
  seq: number;
  time: number;
  bytes: number;
  entry: LogEntry;
}

interface FunctionLog {
  lines: Kept[];
  bytes: number;
  listeners: Set<(entry: LogEntry) => void>;
}

export class FunctionLogs {
  readonly #maxBytes: number;
  readonly #echo: boolean;
  readonly #logs = new Map<string, FunctionLog>();
  #seq = 0;

  constructor(options: FunctionLogsOptions = {}) {
    const maxBytes = options.maxBytes ?? 256 * 1024;
    if (!Number.isInteger(maxBytes) || maxBytes < 1024) throw new EdgefnError('ERR_INVALID_INPUT', `maxBytes must be an integer of at least 1024, got ${maxBytes}`);
    this.#maxBytes = maxBytes;
    this.#echo = options.echo ?? false;
  }

  #log(name: string): FunctionLog {
    let log = this.#logs.get(name);
    if (log === undefined) this.#logs.set(name, (log = { lines: [], bytes: 0, listeners: new Set() }));
    return log;
  }

  add(name: string, line: LogLine): LogEntry {
    const log = this.#log(name);
    const message = line.message.length > MAX_MESSAGE_CHARS ? `${line.message.slice(0, MAX_MESSAGE_CHARS)}… (truncated)` : line.message;
    const time = line.time ?? Date.now();
    const seq = ++this.#seq;
    const entry: LogEntry = { id: String(seq), time: new Date(time).toISOString(), level: line.level, message };
    if (line.version !== undefined) entry.version = line.version;
    if (line.requestId !== undefined) entry.requestId = line.requestId;
    const bytes = Buffer.byteLength(message) + LINE_OVERHEAD_BYTES;
    log.lines.push({ seq, time, bytes, entry });
    log.bytes += bytes;
    let drop = 0;
    while (log.bytes > this.#maxBytes && drop < log.lines.length - 1) log.bytes -= log.lines[drop++]!.bytes;
    if (drop > 0) log.lines.splice(0, drop);
    if (this.#echo) process.stdout.write(`[${name}${line.version === undefined ? '' : `@${line.version}`}${line.requestId === undefined ? '' : ` ${line.requestId}`}] ${line.level}: ${message}\n`);
    for (const listener of log.listeners) listener(entry);
    return entry;
  }

  /**
   * Lines of `name`, oldest first. With `since`, the first `limit` lines after
   * it (so a reader pages forward); without, the last `limit` lines.
   */
  get(name: string, since?: LogSince, limit = Infinity): LogEntry[] {
    const lines = this.#logs.get(name)?.lines ?? [];
    if (since === undefined) return lines.slice(Math.max(0, lines.length - limit)).map((l) => l.entry);
    const out: LogEntry[] = [];
    for (const l of lines) {
      if ('cursor' in since ? l.seq <= since.cursor : l.time < since.time) continue;
      if (out.length >= limit) break;
      out.push(l.entry);
    }
    return out;
  }

  /** Bytes kept for `name` (as counted against maxBytes). */
  bytes(name: string): number {
    return this.#logs.get(name)?.bytes ?? 0;
  }

  /** Call `listener` with every line `name` writes from now on; returns the unsubscribe. */
  subscribe(name: string, listener: (entry: LogEntry) => void): () => void {
    const log = this.#log(name);
    log.listeners.add(listener);
    return () => {
      log.listeners.delete(listener);
    };
  }

  /** The function is gone: its lines go; live tails keep their subscription for a function deployed again under the name. */
  delete(name: string): void {
    const log = this.#logs.get(name);
    if (log === undefined) return;
    if (log.listeners.size === 0) this.#logs.delete(name);
    else {
      log.lines = [];
      log.bytes = 0;
    }
  }
}
