// One node's part in a cluster of regions sharing a PostgreSQL: it keeps the
// local copy current (LISTEN/NOTIFY, catching up by seq after any gap),
// registers itself and heartbeats, probes its peers, and owns the forwarder
// for requests whose function lives in another region.
//
// PostgreSQL is needed only for changes. While it is out of reach the node
// keeps serving from its copy, with the peers it last knew; deploys and
// deletes answer 503 store-unavailable; and a background loop reconnects,
// catching up on everything it missed once it is back.

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { EdgefnError } from '../../runtime/index.ts';
import type { RegionInfo, RoutingResponse, StickyKey, TrafficShare, VersionsResponse, WorkerFormat } from '../../sdk/wire.ts';
import { functionName } from '../data-plane.ts';
import type { FunctionStore } from '../store.ts';
import { CHANGE_BATCH, ClusterDb, type DeployRecord, type NodeRow } from './cluster-db.ts';
import { Forwarder } from './forwarder.ts';
import { Membership, PROBE_HOST } from './membership.ts';
import { NearProbes } from './near.ts';
import { placedIn, Replica, type ClusterFunction, type Placement, type RouteChange } from './replica.ts';

/** How often a node writes its heartbeat and re-reads the node list (ms). */
const HEARTBEAT_MS = 500;
/** Wait between two attempts to reach PostgreSQL (ms). */
const RECONNECT_MS = 250;

export interface ClusterOptions {
  databaseUrl: string;
  region: string;
  baseDomain: string;
  /** node:http timeouts for connections the forwarder takes (ms). */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** The node's SQLite file (the replica's tables sit beside the store's). */
  dbPath: string;
  store: FunctionStore;
  /** Apply route changes to this node's isolate hosts; resolves once they serve them. */
  onRoutes(routes: RouteChange[]): Promise<void>;
  /** Apply changes to functions' custom routes (router/route-table.ts); resolves once the hosts have them. */
  onPatterns?(changes: Array<{ name: string; patterns: string[] }>): Promise<void>;
  /** The function a custom route gives a request (Host header, request target), if any. */
  routed?(host: string | undefined, target: string): string | undefined;
  log(message: string): void;
}

export class Cluster {
  readonly #o: ClusterOptions;
  readonly #db: ClusterDb;
  readonly #replica: Replica;
  readonly #membership: Membership;
  readonly #forwarder: Forwarder;
  readonly #near: NearProbes;
  /** Functions this node holds but does not route, another region being nearer their backend. */
  readonly #nearAway = new Set<string>();
  readonly #id: string;
  #self: { advertiseUrl: string; apiUrl: string; dataUrl: string } | undefined;
  #secret: string | undefined;
  #connected = false;
  #syncing: Promise<void> | undefined;
  #syncAgain = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #beating = false;
  #listener: { end(): Promise<void> } | undefined;
  #closed = false;

  constructor(o: ClusterOptions) {
    this.#o = o;
    this.#db = new ClusterDb(o.databaseUrl);
    this.#replica = new Replica(o.dbPath, o.store, o.region);
    this.#id = this.#replica.state('node-id') ?? `${o.region}-${randomBytes(6).toString('hex')}`;
    this.#replica.setState('node-id', this.#id);
    this.#secret = this.#replica.state('secret');
    this.#membership = new Membership({ selfId: this.#id, region: o.region });
    const known = this.#replica.state('nodes');
    if (known !== undefined) this.#membership.setNodes(JSON.parse(known) as NodeRow[]);
    this.#forwarder = new Forwarder({
      region: o.region,
      headersTimeoutMs: o.headersTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      baseDomain: o.baseDomain,
      selfUrl: () => this.#self!.dataUrl,
      secret: () => this.#secret,
      placement: (name) => this.#replica.placement(name),
      ...(o.routed === undefined ? {} : { routed: o.routed }),
      servedHere: (name) => o.store.current(name) !== undefined && !this.#nearElsewhere(this.#replica.placement(name)),
      candidates: (_name, p) => {
        const all = this.#membership.candidates(p.regions);
        const near = this.nearRegion(p);
        return near === undefined ? all : [...all.filter((n) => n.region === near), ...all.filter((n) => n.region !== near)];
      },
      reportFailure: (id, why) => this.#membership.reportFailure(id, why),
    });
    this.#near = new NearProbes(o.region);
    this.#near.setTargets(this.#nearTargets());
  }

  #nearTargets(): Set<string> {
    return new Set(this.#replica.placedNear(this.#o.region).map(([, p]) => p.near));
  }

  /**
   * Functions placed here near a backend that another region is nearer to
   * are not routed by this node's isolate hosts, so even a keep-alive
   * connection a host already holds sends their requests on (through the
   * front door's forwarder); they are routed again when this region is
   * nearest once more. Run after every heartbeat's new figures.
   */
  async #placeNear(): Promise<void> {
    const changes: RouteChange[] = [];
    const seen = new Set<string>();
    for (const [name, p] of this.#replica.placedNear(this.#o.region)) {
      seen.add(name);
      const away = this.#nearElsewhere(p);
      if (away === this.#nearAway.has(name)) continue;
      if (away) this.#nearAway.add(name);
      else this.#nearAway.delete(name);
      if (away) changes.push({ name, version: null });
      else {
        const r = this.#o.store.routing(name);
        if (r !== undefined) changes.push({ name, version: r.current, traffic: r.traffic, sticky: r.sticky });
      }
    }
    for (const name of this.#nearAway) if (!seen.has(name)) this.#nearAway.delete(name);
    if (changes.length > 0) await this.#o.onRoutes(changes);
  }

  /**
   * For a function placed near a backend: the region, of those holding it and
   * healthy, measured nearest to the backend; undefined when it has no such
   * placement or no region has a figure yet.
   */
  nearRegion(p: Placement): string | undefined {
    if (p.near === null) return undefined;
    let best: [string, number] | undefined;
    for (const [region, ms] of this.#nearFigures(p.near, p)) if (best === undefined || ms < best[1]) best = [region, ms];
    return best?.[0];
  }

  /** Per region holding `p` and healthy, its best node's latency to `near` (ms). */
  #nearFigures(near: string, p: Placement): Map<string, number> {
    const healthy = new Set<string>([this.#id]);
    const regions = new Set<string>();
    for (const r of this.#membership.regions()) {
      if (!r.healthy || !placedIn(p, r.name)) continue;
      regions.add(r.name);
      for (const n of r.nodes) if (n.healthy) healthy.add(n.id);
    }
    const figures = this.#near.byRegion(near, (row) => healthy.has(row.nodeId));
    for (const region of [...figures.keys()]) if (!regions.has(region)) figures.delete(region);
    return figures;
  }

  /** What GET /v1/functions/{name} shows of a placement near a backend. */
  nearInfo(p: Placement): { url: string; region: string | null; rttMs: Record<string, number> } | undefined {
    if (p.near === null) return undefined;
    const figures = this.#nearFigures(p.near, p);
    return { url: p.near, region: this.nearRegion(p) ?? null, rttMs: Object.fromEntries([...figures].map(([r, ms]) => [r, Math.round(ms * 100) / 100])) };
  }

  /** True when `p` is placed near a backend and another region is nearer to it than this one. */
  #nearElsewhere(p: Placement | undefined): boolean {
    if (p === undefined || p.near === null) return false;
    const near = this.nearRegion(p);
    return near !== undefined && near !== this.#o.region;
  }

  get id(): string {
    return this.#id;
  }

  /**
   * Join: resolves once this node is registered and caught up, or, when
   * PostgreSQL is out of reach, at once (serving its copy) while a background
   * loop keeps trying.
   */
  async start(self: { advertiseUrl: string; apiUrl: string; dataUrl: string }): Promise<void> {
    this.#self = self;
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
    if (!(await this.#attempt())) {
      this.#o.log('cluster: PostgreSQL is out of reach; serving from the local copy and retrying');
      void this.#connect();
    }
  }

  async #connect(): Promise<void> {
    while (!this.#closed && !this.#connected) {
      if (await this.#attempt()) return;
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }

  /** One try at joining: migrate, secret, LISTEN, heartbeat, catch up. */
  async #attempt(): Promise<boolean> {
    try {
      await this.#db.migrate();
      this.#secret = await this.#db.clusterSecret(randomBytes(32).toString('base64url'));
      this.#replica.setState('secret', this.#secret);
      this.#listener = await this.#db.listen(
        // A failed catch-up is retried by the next notification or by the reconnect loop.
        () => void this.sync().catch(() => {}),
        (err) => {
          if (!this.#connected || this.#closed) return;
          this.#connected = false;
          this.#o.log(`cluster: lost PostgreSQL (${err.message}); serving from the local copy and reconnecting`);
          void this.#connect();
        },
      );
      this.#connected = true;
      await this.#beat();
      await this.#adoptStandalone();
      await this.sync();
      return true;
    } catch {
      if (this.#connected) {
        // Connected, then the catch-up failed: the listener's loss starts the reconnect loop.
        return true;
      }
      return false;
    }
  }

  /**
   * The first time this node joins, the functions it served on its own
   * become the cluster's, placed in this node's region (where they ran), so
   * they are listed, managed and forwarded to like any other. A name the
   * cluster already knows keeps the cluster's function: this node then
   * serves that one, and says so.
   */
  async #adoptStandalone(): Promise<void> {
    if (this.#replica.state('joined') !== undefined) return;
    const routesOf = new Map<string, string[]>();
    for (const [pattern, name] of this.#o.store.routes()) routesOf.set(name, [...(routesOf.get(name) ?? []), pattern]);
    for (const f of this.#o.store.currentVersions()) {
      const d = { ...f, regions: [this.#o.region], near: null, routes: routesOf.get(f.name) ?? [] };
      let r;
      try {
        r = await this.#db.adopt(d);
      } catch (err) {
        if (!(err instanceof EdgefnError && err.code === 'ERR_ROUTE_CONFLICT')) throw err;
        // Another function of the cluster holds one of its routes: it joins without them.
        this.#o.log(`cluster: function "${f.name}" joins without its routes: ${err.message}`);
        r = await this.#db.adopt({ ...d, routes: [] });
      }
      if (r !== undefined) {
        this.#o.log(`cluster: function "${f.name}" deployed on this node before it joined is now the cluster's, placed in region "${this.#o.region}" (version ${r.version})`);
        continue;
      }
      // The catch-up that follows installs the cluster's function if it is placed here.
      this.#o.store.delete(f.name);
      await this.#o.onRoutes([{ name: f.name, version: null }]);
      this.#o.log(`cluster: function "${f.name}" deployed on this node before it joined is replaced by the cluster's function of that name`);
    }
    this.#replica.setState('joined', new Date().toISOString());
  }

  async #beat(): Promise<void> {
    // One at a time: against an unreachable PostgreSQL each try may wait out
    // the connect timeout (2 s), and overlapping ones would hold the pool.
    if (this.#self === undefined || this.#closed || this.#beating) return;
    this.#beating = true;
    try {
      await this.#db.heartbeat({ id: this.#id, region: this.#o.region, advertiseUrl: this.#self.advertiseUrl, apiUrl: this.#self.apiUrl });
      const nodes = await this.#db.nodes();
      this.#membership.setNodes(nodes);
      const json = JSON.stringify(nodes.map((n) => ({ ...n, heartbeatAgeMs: 0 })));
      if (this.#replica.state('nodes') !== json) this.#replica.setState('nodes', json);
      await this.#db.reportNear(this.#id, this.#o.region, this.#near.own());
      this.#near.setTable(await this.#db.nearRtts());
      await this.#placeNear();
    } catch {
      // PostgreSQL is out of reach: keep probing the peers already known.
    } finally {
      this.#beating = false;
    }
  }

  /** Catch up with every change after the last one applied (runs are coalesced). */
  sync(): Promise<void> {
    if (this.#syncing !== undefined) {
      this.#syncAgain = true;
      return this.#syncing;
    }
    const run = (async () => {
      do {
        this.#syncAgain = false;
        for (;;) {
          const changes = await this.#db.changesSince(this.#replica.seq, this.#o.region);
          if (changes.length === 0 || this.#closed) break;
          const patterns: Array<{ name: string; patterns: string[] }> = [];
          const routes = this.#replica.apply(changes, patterns).map((r) => (r.version !== null && this.#nearAway.has(r.name) ? { name: r.name, version: null } : r));
          this.#near.setTargets(this.#nearTargets());
          if (routes.length > 0) await this.#o.onRoutes(routes);
          if (patterns.length > 0) await this.#o.onPatterns?.(patterns);
          if (changes.length < CHANGE_BATCH) break;
        }
      } while (this.#syncAgain && !this.#closed);
    })();
    this.#syncing = run;
    void run.finally(() => {
      if (this.#syncing === run) this.#syncing = undefined;
    }).catch(() => {});
    return run;
  }

  async #caughtUpTo(seq: number): Promise<void> {
    while (this.#replica.seq < seq && !this.#closed) await this.sync();
  }

  /** Record a validated deploy for the whole cluster; resolves once this node serves it (when placed here). */
  async deploy(d: DeployRecord): Promise<{ version: number; created: boolean }> {
    if (d.regions !== null) {
      const known = new Set(this.#membership.regions().map((r) => r.name));
      const unknown = d.regions.filter((r) => !known.has(r));
      if (unknown.length > 0) throw new EdgefnError('ERR_INVALID_INPUT', `"regions" names ${unknown.map((r) => `"${r}"`).join(', ')}, which no node of this cluster is in (known: ${[...known].join(', ')})`);
    }
    const r = await this.#db.deploy(d);
    await this.#caughtUpTo(r.seq);
    return { version: r.version, created: r.created };
  }

  /** Move the whole cluster to a stored version; resolves once this node serves it (when placed here). */
  async rollback(name: string, version: number | undefined): Promise<RoutingResponse> {
    const r = await this.#db.rollback(name, version);
    await this.#caughtUpTo(r.seq);
    return { name, current: r.current, previous: r.previous, traffic: [{ version: r.current, percent: 100 }], sticky: null };
  }

  /** Split the whole cluster's traffic for `name`; resolves once this node serves the split (when placed here). */
  async setTraffic(name: string, traffic: TrafficShare[], sticky: StickyKey | null): Promise<RoutingResponse> {
    const r = await this.#db.setTraffic(name, traffic, sticky);
    await this.#caughtUpTo(r.seq);
    return { name, current: r.current, previous: r.previous, traffic: r.traffic ?? [{ version: r.current, percent: 100 }], sticky: r.sticky };
  }

  /** The versions PostgreSQL holds for `name` (the cluster's record, not this node's copy). */
  async versions(name: string): Promise<VersionsResponse> {
    const v = await this.#db.versions(name);
    if (v === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    const traffic = v.traffic ?? [{ version: v.current, percent: 100 }];
    return {
      name,
      current: v.current,
      previous: v.previous,
      traffic,
      sticky: v.sticky,
      versions: v.versions.map((x) => ({ ...x, format: x.format as WorkerFormat, current: x.version === v.current, percent: traffic.find((s) => s.version === x.version)?.percent ?? 0 })),
    };
  }

  /** Claim a scheduled run for this node (router/scheduler.ts): true when it is ours to run. */
  claimCron(name: string, cron: string, scheduledTime: number): Promise<boolean> {
    return this.#db.claimCron(name, cron, scheduledTime, this.#id);
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.#db.delete(name);
    if (r.deleted) await this.#caughtUpTo(r.seq);
    return r.deleted;
  }

  list(): ClusterFunction[] {
    return this.#replica.list();
  }

  get(name: string): ClusterFunction | undefined {
    return this.#replica.get(name);
  }

  /** Regions holding a function now, nearest first as this node measures (its own region first when it holds it). */
  activeRegions(p: Placement): string[] {
    return this.#membership.regions().filter((r) => r.healthy && placedIn(p, r.name)).map((r) => r.name);
  }

  regions(): RegionInfo[] {
    return this.#membership.regions().map((r) => ({
      name: r.name,
      self: r.name === this.#o.region,
      healthy: r.healthy,
      rttMs: r.rttMs === undefined ? null : Math.round(r.rttMs * 100) / 100,
      nodes: [
        ...(r.name === this.#o.region && this.#self !== undefined ? [{ id: this.#id, url: this.#self.advertiseUrl, healthy: true, rttMs: 0, self: true }] : []),
        ...r.nodes.map((n) => ({ id: n.id, url: n.advertiseUrl, healthy: n.healthy, rttMs: n.rttMs === undefined ? null : Math.round(n.rttMs * 100) / 100, self: false, ...(n.lastError === undefined ? {} : { error: n.lastError }) })),
      ],
    }));
  }

  get storeReachable(): boolean {
    return this.#connected;
  }

  /** For the front door: the forwarder takes connections for probes and for functions placed only in other regions. */
  divert(host: string | undefined, target = '/'): ((socket: Socket, head: Uint8Array) => void) | undefined {
    if (host === PROBE_HOST) return this.#adopt;
    const name = functionName(host, this.#o.baseDomain);
    let p = name === undefined ? undefined : this.#replica.placement(name);
    if (p === undefined) {
      const claimed = this.#o.routed?.(host, target);
      if (claimed !== undefined) p = this.#replica.placement(claimed);
    }
    return p !== undefined && (!placedIn(p, this.#o.region) || this.#nearElsewhere(p)) ? this.#adopt : undefined;
  }

  readonly #adopt = (socket: Socket, head: Uint8Array) => this.#forwarder.adopt(socket, head);

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#membership.close();
    this.#near.close();
    this.#forwarder.close();
    await this.#listener?.end().catch(() => {});
    // The registry keeps this node's row: its region stays known (deploys
    // may still name it) and peers show it unhealthy until it is back.
    await this.#db.close();
    await this.#syncing?.catch(() => {});
    this.#replica.close();
  }
}
