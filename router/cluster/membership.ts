// Who else is in the cluster and how far away each region is. The node list
// comes from PostgreSQL's registry (kept locally too, for when PostgreSQL is
// out of reach); health and distance come from this node's own probes of each
// peer's advertise URL: an HTTP request answered by the peer's front door,
// timed to its response head. The round-trip time of a node is an EWMA of its
// probes; a region's is its nearest healthy node's.
//
// A node is down from its first probe that is refused or cut (a dead
// process's port answers at once), and after SLOW_PROBES_DOWN probes in a row
// that time out (a node that stopped answering without closing); one slow
// probe on a busy machine does not take it out, and a node down only for slow
// probes is still tried after every healthy one (a stalled machine may yet
// answer; a refused port will not). Probes run every
// PROBE_INTERVAL_MS, and a forwarded request that cannot reach a node marks it
// down at once (reportFailure), so a region whose nodes die stops being chosen
// within one probe interval.

import { Client } from 'undici';
import type { NodeRow } from './cluster-db.ts';

/** Time between two probes of one peer (ms). The bound: RTTs refreshed at least every second. */
export const PROBE_INTERVAL_MS = 250;
/** A probe not answered in this long fails (ms). */
const PROBE_TIMEOUT_MS = 1_000;
/** Probes in a row that time out before a node counts as down. */
const SLOW_PROBES_DOWN = 3;
/** Weight of a new sample in the RTT EWMA. */
const EWMA_ALPHA = 0.3;
/** The Host a probe carries: not `<name>.<base>`, so no function can be named so. */
export const PROBE_HOST = 'edgefn-probe.invalid';
export const PROBE_PATH = '/.edgefn/probe';

export interface PeerState extends NodeRow {
  healthy: boolean;
  /** EWMA of probe round trips (ms), undefined before the first answer. */
  rttMs: number | undefined;
  lastError: string | undefined;
}

export interface RegionState {
  name: string;
  healthy: boolean;
  /** The nearest healthy node's RTT (ms); 0 for this node's own region. */
  rttMs: number | undefined;
  nodes: PeerState[];
}

export interface MembershipOptions {
  selfId: string;
  region: string;
  /** The clock for RTTs (ms); injectable for tests. */
  now?: () => number;
}

interface Peer {
  state: PeerState;
  client: Client;
  timer: NodeJS.Timeout | undefined;
  inFlight: boolean;
  /** Probes in a row that timed out. */
  slow: number;
  /** Down because it refused or cut a probe or a forwarded request (not merely slow). */
  refused: boolean;
}

export class Membership {
  readonly #selfId: string;
  readonly #region: string;
  readonly #now: () => number;
  readonly #peers = new Map<string, Peer>();
  #closed = false;

  constructor(options: MembershipOptions) {
    this.#selfId = options.selfId;
    this.#region = options.region;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Replace the node list (from the registry); new peers start being probed, gone ones stop. */
  setNodes(rows: NodeRow[]): void {
    if (this.#closed) return;
    const seen = new Set<string>();
    for (const row of rows) {
      if (row.id === this.#selfId) continue;
      seen.add(row.id);
      const known = this.#peers.get(row.id);
      if (known !== undefined && known.state.advertiseUrl === row.advertiseUrl) {
        Object.assign(known.state, { region: row.region, apiUrl: row.apiUrl, heartbeatAgeMs: row.heartbeatAgeMs });
        continue;
      }
      if (known !== undefined) this.#drop(row.id);
      const peer: Peer = {
        state: { ...row, healthy: false, rttMs: undefined, lastError: undefined },
        client: new Client(row.advertiseUrl, { keepAliveTimeout: 30_000, headersTimeout: PROBE_TIMEOUT_MS, bodyTimeout: PROBE_TIMEOUT_MS }),
        timer: undefined,
        inFlight: false,
        slow: 0,
        refused: false,
      };
      this.#peers.set(row.id, peer);
      void this.#probe(peer);
      peer.timer = setInterval(() => void this.#probe(peer), PROBE_INTERVAL_MS);
      peer.timer.unref();
    }
    for (const id of [...this.#peers.keys()]) if (!seen.has(id)) this.#drop(id);
  }

  #drop(id: string): void {
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    this.#peers.delete(id);
    clearInterval(peer.timer);
    void peer.client.destroy().catch(() => {});
  }

  async #probe(peer: Peer): Promise<void> {
    if (peer.inFlight || this.#closed) return;
    peer.inFlight = true;
    const started = this.#now();
    try {
      const res = await peer.client.request({ method: 'GET', path: PROBE_PATH, headers: { host: PROBE_HOST }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await res.body.dump();
      if (res.statusCode !== 204) throw new Error(`probe answered ${res.statusCode}`);
      const sample = this.#now() - started;
      const s = peer.state;
      s.rttMs = s.rttMs === undefined ? sample : s.rttMs + EWMA_ALPHA * (sample - s.rttMs);
      s.healthy = true;
      s.lastError = undefined;
      peer.slow = 0;
      peer.refused = false;
    } catch (err) {
      const s = peer.state;
      s.lastError = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: string; name?: string }).code ?? (err as { name?: string }).name;
      if (code === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
        // Counted as a sample of the timeout, so a node that keeps being slow drifts down the order.
        s.rttMs = s.rttMs === undefined ? PROBE_TIMEOUT_MS : s.rttMs + EWMA_ALPHA * (PROBE_TIMEOUT_MS - s.rttMs);
        if (++peer.slow >= SLOW_PROBES_DOWN) s.healthy = false;
      } else {
        s.healthy = false;
        peer.refused = true;
      }
    } finally {
      peer.inFlight = false;
    }
  }

  /** A forwarded request could not reach this node: stop choosing it until a probe succeeds again. */
  reportFailure(id: string, why: string): void {
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    peer.state.healthy = false;
    peer.state.lastError = why;
    peer.refused = true;
  }

  /**
   * Nodes of other regions in `regions` to try, nearest first: the healthy
   * ones, then those down only for slow probes. Refused ones never.
   */
  candidates(regions: readonly string[] | null): PeerState[] {
    const byRtt = (a: PeerState, b: PeerState) => (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity);
    const mine = [...this.#peers.values()].filter((p) => p.state.region !== this.#region && (regions === null || regions.includes(p.state.region)));
    const healthy = mine.filter((p) => p.state.healthy).map((p) => p.state).sort(byRtt);
    const slow = mine.filter((p) => !p.state.healthy && !p.refused && p.state.rttMs !== undefined).map((p) => p.state).sort(byRtt);
    return [...healthy, ...slow];
  }

  /** Every region this node knows of, its own first, then nearest first. */
  regions(): RegionState[] {
    const byName = new Map<string, RegionState>();
    byName.set(this.#region, { name: this.#region, healthy: true, rttMs: 0, nodes: [] });
    for (const p of this.#peers.values()) {
      let r = byName.get(p.state.region);
      if (r === undefined) byName.set(p.state.region, (r = { name: p.state.region, healthy: false, rttMs: undefined, nodes: [] }));
      r.nodes.push({ ...p.state });
      if (p.state.healthy && p.state.region !== this.#region) {
        r.healthy = true;
        if (p.state.rttMs !== undefined && (r.rttMs === undefined || p.state.rttMs < r.rttMs)) r.rttMs = p.state.rttMs;
      }
    }
    const [own, ...rest] = [...byName.values()];
    return [own!, ...rest.sort((a, b) => (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity))];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#peers.keys()]) this.#drop(id);
  }
}
