// What an isolate host counts about the requests it served, per function
// version, and sends to the front door with every 'pong' (about once a
// second) as the change since the last one. One aggregate per function per
// report, never one message per request: the warm request path pays a few
// additions (router/host/request-meter.ts), and the front door turns the
// deltas into Prometheus series (router/metrics.ts) and hourly usage rows
// (router/usage.ts).

/** Upper bounds of the request-duration histogram buckets, in seconds (time to the response head). */
export const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** Upper bounds of the cold-start histogram buckets, in seconds. */
export const COLD_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] as const;

/** Limits whose hits are counted, by the `edgefn-error` value a request failed with. */
export const LIMIT_KINDS = ['cpu-limit', 'memory-limit', 'wall-limit'] as const;
export type LimitKind = (typeof LIMIT_KINDS)[number];

export interface FunctionReport {
  name: string;
  version: number;
  /** Requests that ended (response sent or failed, waitUntil work over). */
  requests: number;
  /** Requests by status class: index 0 is 1xx … index 4 is 5xx. */
  status: [number, number, number, number, number];
  /** CPU charged, ms (the final charge, which Server-Timing's cpu reports at the response head). */
  cpuMs: number;
  /** Wall time from dispatch to the end of the request, ms. */
  wallMs: number;
  /** Request and response body bytes. */
  ingressBytes: number;
  egressBytes: number;
  /** Outbound fetch() calls, redirects included. */
  subrequests: number;
  coldStarts: number;
  coldMs: number;
  /** Per-bucket counts (not cumulative), one more than the bounds for +Inf. */
  coldBuckets: number[];
  /** Time to the response head, ms summed, and per-bucket counts as above. */
  durationMs: number;
  durationBuckets: number[];
  limits: Partial<Record<LimitKind, number>>;
}

export function emptyReport(name: string, version: number): FunctionReport {
  return {
    name,
    version,
    requests: 0,
    status: [0, 0, 0, 0, 0],
    cpuMs: 0,
    wallMs: 0,
    ingressBytes: 0,
    egressBytes: 0,
    subrequests: 0,
    coldStarts: 0,
    coldMs: 0,
    coldBuckets: new Array<number>(COLD_BUCKETS_S.length + 1).fill(0),
    durationMs: 0,
    durationBuckets: new Array<number>(DURATION_BUCKETS_S.length + 1).fill(0),
    limits: {},
  };
}

/** Index of the bucket `seconds` falls in (the last one is +Inf). */
export function bucketOf(bounds: readonly number[], seconds: number): number {
  let i = 0;
  while (i < bounds.length && seconds > bounds[i]!) i++;
  return i;
}

/** Add `b` into `a` (same function). */
export function addReport(a: FunctionReport, b: FunctionReport): void {
  a.requests += b.requests;
  for (let i = 0; i < 5; i++) a.status[i] = a.status[i]! + b.status[i]!;
  a.cpuMs += b.cpuMs;
  a.wallMs += b.wallMs;
  a.ingressBytes += b.ingressBytes;
  a.egressBytes += b.egressBytes;
  a.subrequests += b.subrequests;
  a.coldStarts += b.coldStarts;
  a.coldMs += b.coldMs;
  for (let i = 0; i < a.coldBuckets.length; i++) a.coldBuckets[i] = a.coldBuckets[i]! + (b.coldBuckets[i] ?? 0);
  a.durationMs += b.durationMs;
  for (let i = 0; i < a.durationBuckets.length; i++) a.durationBuckets[i] = a.durationBuckets[i]! + (b.durationBuckets[i] ?? 0);
  for (const k of LIMIT_KINDS) if (b.limits[k] !== undefined) a.limits[k] = (a.limits[k] ?? 0) + b.limits[k]!;
}
