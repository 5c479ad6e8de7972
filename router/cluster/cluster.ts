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
import type { RegionInfo } from '../../sdk/wire.ts';
import { functionName } from '../data-plane.ts';
import type { FunctionStore } from '../store.ts';
import { CHANGE_BATCH, ClusterDb, type DeployRecord, type NodeRow } from './cluster-db.ts';
import { Forwarder } from './forwarder.ts';
import { Membership, PROBE_HOST } from './membership.ts';
import { placedIn, Replica, type ClusterFunction, type Placement } from './replica.ts';

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
  onRoutes(routes: Array<{ name: string; version: number | null }>): Promise<void>;
  log(message: string): void;
}

export class Cluster {
  readonly #o: ClusterOptions;
  readonly #db: ClusterDb;
  readonly #replica: Replica;
  readonly #membership: Membership;
  readonly #forwarder: Forwarder;
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
      servedHere: (name) => o.store.current(name) !== undefined,
      candidates: (_name, p) => this.#membership.candidates(p.regions),
      reportFailure: (id, why) => this.#membership.reportFailure(id, why),
    });
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
          const routes = this.#replica.apply(changes);
          if (routes.length > 0) await this.#o.onRoutes(routes);
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
  divert(host: string | undefined): ((socket: Socket, head: Uint8Array) => void) | undefined {
    if (host === PROBE_HOST) return this.#adopt;
    const name = functionName(host, this.#o.baseDomain);
    const p = name === undefined ? undefined : this.#replica.placement(name);
    return p !== undefined && !placedIn(p, this.#o.region) ? this.#adopt : undefined;
  }

  readonly #adopt = (socket: Socket, head: Uint8Array) => this.#forwarder.adopt(socket, head);

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#membership.close();
    this.#forwarder.close();
    await this.#listener?.end().catch(() => {});
    // The registry keeps this node's row: its region stays known (deploys
    // may still name it) and peers show it unhealthy until it is back.
    await this.#db.close();
    await this.#syncing?.catch(() => {});
    this.#replica.close();
  }
}
