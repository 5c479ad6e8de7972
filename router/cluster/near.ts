// Placement near a backend (`"placement": { "near": "<url>" }`): a function
// that talks mostly to one database or API runs in the region, of those it is
// placed in, with the lowest measured latency to that backend.
//
// Every node measures its own latency to the backends of the functions
// placed in its region, once a second: an http(s) URL by the time to the
// response head of a HEAD request (which carries
// `user-agent: edgefn-placement-probe (region=<region>)`), any other URL by
// the time to open a TCP connection to its host and port. Samples are
// smoothed (EWMA) and written to PostgreSQL with the node's heartbeat; every
// node reads every node's figures back, so all agree on the nearest region
// to within one heartbeat. A region's latency is its best healthy node's;
// with no figure for any region (a backend nobody reached yet), the function
// is served like any other, in every region it is placed in.

import { connect } from 'node:net';
import { request } from 'undici';
import type { NearRtt } from './cluster-db.ts';

/** Time between two probes of one backend (ms). */
export const NEAR_PROBE_INTERVAL_MS = 1_000;
/** A probe not answered in this long counts as unreachable (ms). */
const NEAR_PROBE_TIMEOUT_MS = 2_000;
const EWMA_ALPHA = 0.3;

/** Default ports of schemes a backend URL may name without one. */
const DEFAULT_PORTS: Record<string, number> = {
  'http:': 80, 'https:': 443, 'postgres:': 5432, 'postgresql:': 5432, 'mysql:': 3306, 'redis:': 6379, 'rediss:': 6379, 'mongodb:': 27017, 'amqp:': 5672, 'amqps:': 5671,
};

/** The host and port a backend URL names, or a message saying why it names none. */
export function nearEndpoint(url: string): { host: string; port: number } | string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"placement.near" is ${JSON.stringify(url)}, which is not a URL (for example "https://api.example.com" or "postgres://db.example:5432")`;
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return `"placement.near" is ${JSON.stringify(url)}, which names no host`;
  const port = u.port !== '' ? Number(u.port) : DEFAULT_PORTS[u.protocol];
  if (port === undefined) return `"placement.near" is ${JSON.stringify(url)}: give its port (no default port is known for ${u.protocol.slice(0, -1)})`;
  return { host, port };
}

async function probeOnce(target: string, region: string): Promise<number | null> {
  const started = performance.now();
  const end = nearEndpoint(target);
  if (typeof end === 'string') return null;
  if (target.startsWith('http:') || target.startsWith('https:')) {
    try {
      const res = await request(target, { method: 'HEAD', headers: { 'user-agent': `edgefn-placement-probe (region=${region})` }, headersTimeout: NEAR_PROBE_TIMEOUT_MS, bodyTimeout: NEAR_PROBE_TIMEOUT_MS });
      const ms = performance.now() - started;
      res.body.resume();
      return ms;
    } catch {
      return null;
    }
  }
  return new Promise((resolve) => {
    const s = connect({ host: end.host, port: end.port });
    const done = (v: number | null) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(NEAR_PROBE_TIMEOUT_MS, () => done(null));
    s.once('connect', () => done(performance.now() - started));
    s.once('error', () => done(null));
  });
}

export class NearProbes {
  readonly #region: string;
  /** This node's smoothed latency per backend; null while unreachable. */
  readonly #own = new Map<string, number | null>();
  /** Every node's latest figures, from PostgreSQL. */
  #table: NearRtt[] = [];
  #targets = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(region: string) {
    this.#region = region;
  }

  /** Which backends to measure (those of functions placed in this node's region). */
  setTargets(targets: Set<string>): void {
    this.#targets = targets;
    for (const t of [...this.#own.keys()]) if (!targets.has(t)) this.#own.delete(t);
    if (targets.size > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => void this.#probeAll(), NEAR_PROBE_INTERVAL_MS);
      this.#timer.unref();
      void this.#probeAll();
    } else if (targets.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  async #probeAll(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await Promise.all(
        [...this.#targets].map(async (t) => {
          const ms = await probeOnce(t, this.#region);
          if (!this.#targets.has(t)) return;
          const prev = this.#own.get(t);
          this.#own.set(t, ms === null ? null : prev === undefined || prev === null ? ms : prev + EWMA_ALPHA * (ms - prev));
        }),
      );
    } finally {
      this.#running = false;
    }
  }

  /** This node's figures, for its heartbeat. */
  own(): Array<{ target: string; rttMs: number | null }> {
    return [...this.#own].map(([target, rttMs]) => ({ target, rttMs }));
  }

  setTable(rows: NearRtt[]): void {
    this.#table = rows;
  }

  /** Per region, the best latency any of its `healthy` nodes measured to `target` (ms). */
  byRegion(target: string, healthy: (row: NearRtt) => boolean): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.#table) {
      if (r.target !== target || r.rttMs === null || !healthy(r)) continue;
      const best = out.get(r.region);
      if (best === undefined || r.rttMs < best) out.set(r.region, r.rttMs);
    }
    return out;
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
