// Per-request bookkeeping an isolate host does on the hot path: a request id
// for every request, and the per-function counters of function-report.ts,
// handed to the front door in batches (take()) with each 'pong'.

import { randomBytes } from 'node:crypto';
import { COLD_BUCKETS_S, DURATION_BUCKETS_S, bucketOf, emptyReport, type FunctionReport, type LimitKind } from '../function-report.ts';

/** A request id a client may choose: 1 to 64 characters of A-Z a-z 0-9 . _ - */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Request ids unique across hosts and restarts: a random per-process prefix
 * and a counter. A counter and a string concatenation cost well under a
 * microsecond; crypto.randomUUID() is cheap too (~0.1 µs with its entropy
 * cache) but a counter also sorts by arrival within one host.
 */
export class RequestIds {
  readonly #prefix: string;
  #next = 0;

  constructor(prefix = randomBytes(6).toString('base64url')) {
    this.#prefix = `${prefix}-`;
  }

  /** The client's id if it is a valid one, otherwise a fresh one. */
  for(given: string | string[] | undefined): string {
    if (typeof given === 'string' && REQUEST_ID_PATTERN.test(given)) return given;
    return this.#prefix + (this.#next++).toString(36);
  }
}

/** One finished request, as the data plane saw it. */
export interface MeteredRequest {
  status: number;
  cpuMs: number;
  wallMs: number;
  /** Dispatch to response head, ms. */
  headMs: number;
  coldMs: number | undefined;
  ingressBytes: number;
  egressBytes: number;
  subrequests: number;
  limit: LimitKind | undefined;
}

export class RequestMeter {
  #reports = new Map<string, FunctionReport>();

  record(name: string, version: number, r: MeteredRequest): void {
    const key = `${name}@${version}`;
    let rep = this.#reports.get(key);
    if (rep === undefined) this.#reports.set(key, (rep = emptyReport(name, version)));
    rep.requests++;
    const cls = Math.min(4, Math.max(0, Math.floor(r.status / 100) - 1));
    rep.status[cls] = rep.status[cls]! + 1;
    rep.cpuMs += r.cpuMs;
    rep.wallMs += r.wallMs;
    rep.ingressBytes += r.ingressBytes;
    rep.egressBytes += r.egressBytes;
    rep.subrequests += r.subrequests;
    rep.durationMs += r.headMs;
    rep.durationBuckets[bucketOf(DURATION_BUCKETS_S, r.headMs / 1000)]!++;
    if (r.coldMs !== undefined) {
      rep.coldStarts++;
      rep.coldMs += r.coldMs;
      rep.coldBuckets[bucketOf(COLD_BUCKETS_S, r.coldMs / 1000)]!++;
    }
    if (r.limit !== undefined) rep.limits[r.limit] = (rep.limits[r.limit] ?? 0) + 1;
  }

  /** Everything counted since the last call, and start over. */
  take(): FunctionReport[] {
    if (this.#reports.size === 0) return [];
    const out = [...this.#reports.values()];
    this.#reports = new Map();
    return out;
  }
}
