// Usage metering for pay-per-use billing: per function, per `tenant` tag and
// per hour, the requests, CPU-ms, wall-ms, GB-seconds, body bytes each way and
// subrequests. The hosts count per request and report per function with each
// pong (function-report.ts); this keeps the sums in memory and writes them
// into the node's SQLite file every flushMs and on close, one upsert per
// (hour, function, tenant) touched. A host that dies loses at most what it
// served since its last pong (about a second).
//
// The figures are the ones each response's Server-Timing reported: cpu is the
// same charge (at the end of the request, so it also holds the CPU a request
// used after its response head, streaming or in waitUntil), wall is dispatch
// to end. GB-seconds are the function's memory limit times its wall time (the
// memory it holds a claim on, as Lambda meters it), in GB of 1024 MB.

import { EdgefnError } from '../runtime/index.ts';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { UsageRow } from '../sdk/wire.ts';
import type { FunctionReport } from './function-report.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS usage_hourly (
  hour INTEGER NOT NULL,
  function TEXT NOT NULL,
  tenant TEXT NOT NULL,
  requests INTEGER NOT NULL,
  cpu_ms REAL NOT NULL,
  wall_ms REAL NOT NULL,
  gb_seconds REAL NOT NULL,
  ingress_bytes INTEGER NOT NULL,
  egress_bytes INTEGER NOT NULL,
  subrequests INTEGER NOT NULL,
  PRIMARY KEY (hour, function, tenant)
);
`;

const HOUR_MS = 3_600_000;

export interface UsageMeterOptions {
  /** The node's SQLite file (the store's; this opens its own connection). */
  dbPath: string;
  /** How often sums are written, in ms. Default 5000. */
  flushMs?: number;
  /** The clock, ms since the epoch; injectable for tests. Default Date.now. */
  now?: () => number;
}

export interface UsageQuery {
  /** Inclusive, ms since the epoch; rows are whole hours, so this is rounded down to its hour. */
  from: number;
  /** Exclusive, ms since the epoch. */
  to: number;
  function?: string | undefined;
  tenant?: string | undefined;
}

export const USAGE_COLUMNS = ['hour', 'function', 'tenant', 'requests', 'cpu_ms', 'wall_ms', 'gb_seconds', 'ingress_bytes', 'egress_bytes', 'subrequests'] as const;

export class UsageMeter {
  readonly #db: DatabaseSync;
  readonly #upsert: StatementSync;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  /** Sums not yet written, by `${hour}\n${function}\n${tenant}`. */
  #pending = new Map<string, UsageRow & { hourMs: number }>();
  #closed = false;

  constructor(options: UsageMeterOptions) {
    const flushMs = options.flushMs ?? 5000;
    if (!Number.isInteger(flushMs) || flushMs < 10) throw new EdgefnError('ERR_INVALID_INPUT', `flushMs must be an integer of at least 10, got ${flushMs}`);
    this.#now = options.now ?? Date.now;
    this.#db = new DatabaseSync(options.dbPath);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    this.#db.exec(SCHEMA);
    this.#upsert = this.#db.prepare(`INSERT INTO usage_hourly (hour, function, tenant, requests, cpu_ms, wall_ms, gb_seconds, ingress_bytes, egress_bytes, subrequests)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(hour, function, tenant) DO UPDATE SET
        requests = requests + excluded.requests, cpu_ms = cpu_ms + excluded.cpu_ms, wall_ms = wall_ms + excluded.wall_ms,
        gb_seconds = gb_seconds + excluded.gb_seconds, ingress_bytes = ingress_bytes + excluded.ingress_bytes,
        egress_bytes = egress_bytes + excluded.egress_bytes, subrequests = subrequests + excluded.subrequests`);
    this.#timer = setInterval(() => this.flush(), flushMs);
    this.#timer.unref();
  }

  /** What a host served of one function since its last report; `memoryMb` is the function's memory limit. */
  record(report: FunctionReport, tenant: string, memoryMb: number): void {
    if (this.#closed || report.requests === 0) return;
    const hourMs = Math.floor(this.#now() / HOUR_MS) * HOUR_MS;
    const key = `${hourMs}\n${report.name}\n${tenant}`;
    let row = this.#pending.get(key);
    if (row === undefined) {
      row = { hourMs, hour: new Date(hourMs).toISOString(), function: report.name, tenant, requests: 0, cpuMs: 0, wallMs: 0, gbSeconds: 0, ingressBytes: 0, egressBytes: 0, subrequests: 0 };
      this.#pending.set(key, row);
    }
    row.requests += report.requests;
    row.cpuMs += report.cpuMs;
    row.wallMs += report.wallMs;
    row.gbSeconds += (memoryMb / 1024) * (report.wallMs / 1000);
    row.ingressBytes += report.ingressBytes;
    row.egressBytes += report.egressBytes;
    row.subrequests += report.subrequests;
  }

  /** Write the pending sums (one transaction). */
  flush(): void {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    this.#pending = new Map();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of rows) this.#upsert.run(r.hourMs, r.function, r.tenant, r.requests, r.cpuMs, r.wallMs, r.gbSeconds, r.ingressBytes, r.egressBytes, r.subrequests);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      // Kept for the next flush rather than lost.
      for (const r of rows) this.#pending.set(`${r.hourMs}\n${r.function}\n${r.tenant}`, r);
      throw err;
    }
  }

  /** Rows in [from, to), oldest hour first; what is pending is written first, so nothing received is missing. */
  query(q: UsageQuery): UsageRow[] {
    if (!this.#closed) this.flush();
    const where = ['hour >= ?', 'hour < ?'];
    const args: Array<string | number> = [Math.floor(q.from / HOUR_MS) * HOUR_MS, q.to];
    if (q.function !== undefined) {
      where.push('function = ?');
      args.push(q.function);
    }
    if (q.tenant !== undefined) {
      where.push('tenant = ?');
      args.push(q.tenant);
    }
    const rows = this.#db.prepare(`SELECT * FROM usage_hourly WHERE ${where.join(' AND ')} ORDER BY hour, function, tenant`).all(...args) as Array<Record<string, number | string>>;
    return rows.map((r) => ({
      hour: new Date(Number(r['hour'])).toISOString(),
      function: String(r['function']),
      tenant: String(r['tenant']),
      requests: Number(r['requests']),
      cpuMs: Number(r['cpu_ms']),
      wallMs: Number(r['wall_ms']),
      gbSeconds: Number(r['gb_seconds']),
      ingressBytes: Number(r['ingress_bytes']),
      egressBytes: Number(r['egress_bytes']),
      subrequests: Number(r['subrequests']),
    }));
  }

  /** Flush and close; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      this.flush();
    } finally {
      this.#db.close();
    }
  }
}

/** Rows as CSV (RFC 4180, header line first, CRLF line ends). */
export function usageCsv(rows: UsageRow[]): string {
  const cell = (v: string | number) => (typeof v === 'number' ? String(v) : /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = [USAGE_COLUMNS.join(',')];
  for (const r of rows) lines.push([r.hour, r.function, r.tenant, r.requests, r.cpuMs, r.wallMs, r.gbSeconds, r.ingressBytes, r.egressBytes, r.subrequests].map(cell).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Rows as NDJSON, one UsageRow object a line. */
export function usageNdjson(rows: UsageRow[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}
