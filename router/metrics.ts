// Prometheus metrics of one node, served at GET /metrics on the control port.
// The figures come from the isolate hosts' pongs (about once a second): their
// runtime counters and resident memory, and per function what they served
// since the last pong (function-report.ts). The front door keeps the running
// totals here and renders them in the Prometheus text format through
// prom-client's registry.
//
// Cardinality is bounded: only the `topN` functions with the most requests
// get series of their own; everything the others do is counted under
// function="_other". _other only ever grows (it accrues what a function did
// while it was outside the top N), so it stays a valid counter when functions
// move in and out; a function promoted into the top N shows its whole total
// from then on, as a new series, which rate() reads correctly.

import { EdgefnError } from '../runtime/index.ts';
import { Registry, type Metric } from 'prom-client';
import { COLD_BUCKETS_S, DURATION_BUCKETS_S, LIMIT_KINDS, addReport, emptyReport, type FunctionReport } from './function-report.ts';
import type { HostStats } from './host-protocol.ts';

export interface NodeMetricsOptions {
  /** Functions with series of their own, by requests. Default 100. */
  topN?: number;
}

export interface HostView {
  index: number;
  pid: number | undefined;
  state: string;
  stats: HostStats | undefined;
}

const OTHER = '_other';
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * One metric family as prom-client's registry renders it: the registry only
 * calls get() on what it holds, and its Histogram class can only observe one
 * value at a time, while the hosts send bucket counts. So families are built
 * as plain objects of this shape, from the totals, at each scrape.
 */
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Sample[];
}

function histogram(name: string, bounds: readonly number[], buckets: number[], sumSeconds: number, labels: Record<string, string>): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += buckets[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: i < bounds.length ? bounds[i]! : '+Inf' }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: sumSeconds });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

export class NodeMetrics {
  readonly #topN: number;
  /** Running totals per function name (all versions). */
  readonly #totals = new Map<string, FunctionReport>();
  /** Per function, what arrived since the last scrape (for _other). */
  readonly #pending = new Map<string, FunctionReport>();
  readonly #other = emptyReport(OTHER, 0);
  /** Last evictions count seen per host process, to add only the change. */
  readonly #hostEvictions = new Map<number, number>();
  #evictions = 0;

  constructor(options: NodeMetricsOptions = {}) {
    const topN = options.topN ?? 100;
    if (!Number.isInteger(topN) || topN < 0) throw new EdgefnError('ERR_INVALID_INPUT', `topN must be a non-negative integer, got ${topN}`);
    this.#topN = topN;
  }

  /** A host's pong: its counters, and what it served since its previous pong. */
  record(host: { pid: number | undefined }, stats: HostStats, functions: FunctionReport[]): void {
    if (host.pid !== undefined) {
      const last = this.#hostEvictions.get(host.pid) ?? 0;
      if (stats.evictions > last) this.#evictions += stats.evictions - last;
      this.#hostEvictions.set(host.pid, stats.evictions);
    }
    for (const f of functions) {
      for (const map of [this.#totals, this.#pending]) {
        let r = map.get(f.name);
        if (r === undefined) map.set(f.name, (r = emptyReport(f.name, 0)));
        addReport(r, f);
      }
    }
  }

  /** The functions with series of their own now, and the totals to render for each (with _other last). */
  #series(): FunctionReport[] {
    const ranked = [...this.#totals.values()].sort((a, b) => b.requests - a.requests || (a.name < b.name ? -1 : 1));
    const top = ranked.slice(0, this.#topN);
    const tracked = new Set(top.map((r) => r.name));
    for (const [name, delta] of this.#pending) if (!tracked.has(name)) addReport(this.#other, delta);
    this.#pending.clear();
    return this.#other.requests > 0 || ranked.length > this.#topN ? [...top, this.#other] : top;
  }

  #families(hosts: HostView[], restarts: number): Family[] {
    const series = this.#series();
    const requests: Family = { name: 'edgefn_requests_total', help: 'Requests served, by function and status class.', type: 'counter', values: [] };
    const cold: Family = { name: 'edgefn_cold_starts_total', help: 'Requests that had to start an isolate, by function.', type: 'counter', values: [] };
    const coldHist: Family = { name: 'edgefn_cold_start_duration_seconds', help: 'Time to make an isolate ready on a cold start, by function.', type: 'histogram', values: [] };
    const duration: Family = { name: 'edgefn_request_duration_seconds', help: 'Time from dispatch to the response head, by function.', type: 'histogram', values: [] };
    const cpu: Family = { name: 'edgefn_cpu_seconds_total', help: 'CPU time charged to requests (the Server-Timing cpu figures), by function.', type: 'counter', values: [] };
    const limits: Family = { name: 'edgefn_limit_hits_total', help: 'Requests stopped by a limit, by function and kind.', type: 'counter', values: [] };
    for (const r of series) {
      const fn = { function: r.name };
      STATUS_CLASSES.forEach((status, i) => {
        if (r.status[i]! > 0) requests.values.push({ labels: { ...fn, status }, value: r.status[i]! });
      });
      cold.values.push({ labels: fn, value: r.coldStarts });
      coldHist.values.push(...histogram(coldHist.name, COLD_BUCKETS_S, r.coldBuckets, r.coldMs / 1000, fn));
      duration.values.push(...histogram(duration.name, DURATION_BUCKETS_S, r.durationBuckets, r.durationMs / 1000, fn));
      cpu.values.push({ labels: fn, value: r.cpuMs / 1000 });
      for (const kind of LIMIT_KINDS) limits.values.push({ labels: { ...fn, kind }, value: r.limits[kind] ?? 0 });
    }
    const gauge = (name: string, help: string, pick: (s: HostStats) => number): Family => ({
      name,
      help,
      type: 'gauge',
      values: hosts.filter((h) => h.stats !== undefined && h.state !== 'dead').map((h) => ({ labels: { host: h.index, pid: h.pid ?? '' }, value: pick(h.stats!) })),
    });
    return [
      requests,
      cold,
      coldHist,
      duration,
      cpu,
      limits,
      gauge('edgefn_live_isolates', 'Live isolates (functions loaded) per isolate host.', (s) => s.live),
      gauge('edgefn_live_isolate_heap_bytes', 'Heap of the live isolates per isolate host.', (s) => s.liveHeapBytes),
      gauge('edgefn_pool_ready_isolates', 'Prepared isolates ready in the pool per isolate host.', (s) => s.poolReady),
      gauge('edgefn_host_resident_memory_bytes', 'Resident memory of each isolate host process.', (s) => s.rss),
      gauge('edgefn_host_connections', 'Client connections each isolate host holds.', (s) => s.connections),
      { name: 'edgefn_evictions_total', help: 'Live isolates evicted to stay within EDGEFN_MAX_LIVE / EDGEFN_MAX_LIVE_MB.', type: 'counter', values: [{ labels: {}, value: this.#evictions }] },
      { name: 'edgefn_host_restarts_total', help: 'Isolate hosts replaced after they died or hung.', type: 'counter', values: [{ labels: {}, value: restarts }] },
      { name: 'edgefn_metrics_functions', help: 'Functions seen since start; those past the top N are counted under function="_other".', type: 'gauge', values: [{ labels: {}, value: this.#totals.size }] },
    ];
  }

  /** The Prometheus text exposition (version 0.0.4). */
  async render(hosts: HostView[], restarts: number): Promise<string> {
    const registry = new Registry();
    for (const f of this.#families(hosts, restarts)) {
      // See Family: the registry reads name, help, type and get(), nothing else.
      registry.registerMetric({ name: f.name, help: f.help, type: f.type, get: () => f } as unknown as Metric);
    }
    return registry.metrics();
  }

  get contentType(): string {
    return Registry.PROMETHEUS_CONTENT_TYPE;
  }
}
