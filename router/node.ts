// One whole edgefn node: store, isolate hosts, data plane and control API.

import { getRequestListener } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildPrelude, EdgefnError, prepareModules, prepareScript } from '../runtime/index.ts';
import type { NodeConfig } from './config.ts';
import { createControlApi, type ValidDeploy } from './control-api.ts';
import { functionName, type Route } from './data-plane.ts';
import { createFrontDoor, type FrontDoor } from './front-door.ts';
import { serverTimeouts } from './http-timeouts.ts';
import { FunctionLogs } from './function-logs.ts';
import { FunctionTags } from './function-tags.ts';
import { NodeMetrics } from './metrics.ts';
import { UsageMeter } from './usage.ts';
import { HostSupervisor } from './host-supervisor.ts';
import { FunctionStore, routeConflict } from './store.ts';
import { RouteTable } from './route-table.ts';
import { KvStore } from './kv-store.ts';
import { Scheduler } from './scheduler.ts';
import { ClusterDb } from './cluster/cluster-db.ts';
import { ClusterKv, KvReplica } from './cluster/kv-replica.ts';
import { Cluster } from './cluster/cluster.ts';
import type { RouteChange } from './cluster/replica.ts';
import type { PlacementInfo, RegionsResponse, RoutingResponse, StickyKey, TrafficShare, VersionsResponse } from '../sdk/wire.ts';
import { servedVersions, shares, type Routing } from './traffic-split.ts';
import { CacheStore } from '../runtime/index.ts';
import type { HostConfig } from './host-protocol.ts';

export interface NodeAddresses {
  dataUrl: string;
  apiUrl: string;
  tokenFile: string | undefined;
}

/** An address this machine can connect to for a server listening on `listen` (a wildcard means every interface). */
function reachable(listen: string): string {
  if (listen === '0.0.0.0' || listen === '') return '127.0.0.1';
  if (listen === '::') return '[::1]';
  return listen.includes(':') ? `[${listen}]` : listen;
}

function listen(server: Server | NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The admin token: EDGEFN_TOKEN, or one generated once and kept in the data directory (mode 0600). */
function loadToken(config: NodeConfig): { token: string; file: string | undefined } {
  if (config.token !== undefined) return { token: config.token, file: undefined };
  const file = join(config.dataDir, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), file };
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { token, file };
}

export class EdgeNode {
  readonly config: NodeConfig;
  readonly #store: FunctionStore;
  readonly #routes = new Map<string, Route>();
  readonly #logs: FunctionLogs;
  readonly #metrics: NodeMetrics;
  readonly #usage: UsageMeter;
  readonly #tags: FunctionTags;
  /** Custom routes (host/path patterns → function), as the store holds them. */
  readonly #patterns: RouteTable;
  readonly #deploying = new Map<string, Promise<unknown>>();
  readonly #cluster: Cluster | undefined;
  readonly #kv: KvStore;
  /** In a cluster: KV writes through PostgreSQL, and the replica that keeps this node's copy current. */
  readonly #clusterKv: { db: ClusterDb; access: ClusterKv; replica: KvReplica } | undefined;
  #scheduler: Scheduler | undefined;
  #supervisor: HostSupervisor | undefined;
  #data: FrontDoor | undefined;
  #api: Server | undefined;
  #closed: Promise<void> | undefined;
  addresses: NodeAddresses | undefined;

  constructor(config: NodeConfig) {
    this.config = config;
    mkdirSync(config.dataDir, { recursive: true });
    this.#store = new FunctionStore(join(config.dataDir, 'edgefn.db'));
    this.#logs = new FunctionLogs({ maxBytes: config.logBytes, echo: process.env['EDGEFN_LOG_STDOUT'] === '1' });
    this.#metrics = new NodeMetrics({ topN: config.metricsTopFunctions });
    this.#usage = new UsageMeter({ dbPath: join(config.dataDir, 'edgefn.db'), flushMs: config.usageFlushMs });
    this.#tags = new FunctionTags(join(config.dataDir, 'edgefn.db'));
    for (const f of this.#store.list()) this.#routes.set(f.name, { name: f.name, version: f.version });
    this.#patterns = RouteTable.from(this.#store.routes());
    this.#kv = new KvStore({ path: join(config.dataDir, 'kv.db') });
    if (config.databaseUrl !== undefined) {
      const db = new ClusterDb(config.databaseUrl);
      this.#clusterKv = { db, access: new ClusterKv(this.#kv, db), replica: new KvReplica(this.#kv, db, (m) => process.stderr.write(`edgefn: ${m}\n`)) };
      this.#cluster = new Cluster({
        databaseUrl: config.databaseUrl,
        region: config.region,
        baseDomain: config.baseDomain,
        headersTimeoutMs: config.http.headersTimeoutMs,
        keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
        dbPath: join(config.dataDir, 'edgefn.db'),
        store: this.#store,
        onRoutes: (routes) => this.#applyRoutes(routes),
        onPatterns: (changes) => this.#applyPatterns(changes),
        routed: (host, target) => this.#patterns.match(host, target),
        log: (message) => process.stderr.write(`edgefn: ${message}\n`),
      });
    }
  }

  /** Make this node's hosts serve `routes` (null: stop serving); from the cluster's replication. */
  async #applyRoutes(routes: RouteChange[]): Promise<void> {
    for (const r of routes) {
      if (r.version === null) this.#routes.delete(r.name);
      else this.#routes.set(r.name, { name: r.name, version: r.version });
    }
    const supervisor = this.#supervisor;
    if (supervisor === undefined) return;
    await Promise.all(routes.map((r) => supervisor.setRoute(r.name, r.version, { traffic: r.traffic ?? null, sticky: r.sticky ?? null })));
    // Warm isolates are kept only for the versions a split still sends traffic to.
    for (const r of routes) supervisor.forget(r.name, r.version === null ? undefined : r.traffic != null ? r.traffic.map((s) => s.version) : []);
    // Replicated versions bring their schedules (and deletions take them away).
    this.#scheduler?.refresh();
  }

  /** The function key for a new connection's first request: `<name>.<base>` of a deployed function, else a custom route's. */
  #keyFor(host: string | undefined, target: string): string {
    const name = functionName(host, this.config.baseDomain);
    let route = name === undefined ? undefined : this.#routes.get(name);
    if (route === undefined) {
      const claimed = this.#patterns.match(host, target);
      if (claimed !== undefined) route = this.#routes.get(claimed);
    }
    return route === undefined ? '' : `${route.name}@${route.version}`;
  }

  /** Make this node's hosts route `patterns` to each function; from the cluster's replication. */
  async #applyPatterns(changes: Array<{ name: string; patterns: string[] }>): Promise<void> {
    this.#patterns.setMany(changes);
    const supervisor = this.#supervisor;
    if (supervisor === undefined) return;
    await Promise.all(changes.map((c) => supervisor.setPatterns(c.name, c.patterns)));
  }

  #placement(name: string): PlacementInfo {
    const c = this.#cluster;
    const f = c?.get(name);
    if (c === undefined || f === undefined) return { regions: null, active: [this.config.region] };
    const near = c.nearInfo(f);
    return { regions: f.regions, active: c.activeRegions(f), ...(near === undefined ? {} : { near }) };
  }

  #regions(dataUrl: string): RegionsResponse {
    const region = this.config.region;
    if (this.#cluster !== undefined) return { region, regions: this.#cluster.regions() };
    return { region, regions: [{ name: region, self: true, healthy: true, rttMs: 0, nodes: [{ id: 'self', url: this.config.advertiseUrl ?? dataUrl, healthy: true, rttMs: 0, self: true }] }] };
  }

  /** A function's memory limit, for usage's GB-seconds. */
  #memoryMb(name: string): number {
    const f = this.#cluster === undefined ? this.#store.get(name) : this.#cluster.get(name);
    return f?.limits.memoryMb ?? this.config.limits.memoryMb;
  }

  get supervisor(): HostSupervisor {
    if (this.#supervisor === undefined) throw new EdgefnError('ERR_CLOSED', 'node is not started');
    return this.#supervisor;
  }

  /**
   * The Cache API's file, readied before any host opens it: what a crash left
   * half-written is dropped, and the bytes held are brought under the
   * (possibly lowered) bound. Hosts then write it directly (runtime/host-ops/cache-store.ts).
   */
  #cacheConfig(): HostConfig['cache'] {
    const c = { path: join(this.config.dataDir, 'cache.db'), maxBytes: this.config.cache.maxMb * 1048576, maxEntryBytes: this.config.cache.entryMb * 1048576 };
    // The Cache API is an optimization for the functions, never a reason for
    // the node not to serve: a store that cannot be written now (a read-only
    // data directory, a full disk) is said here; hosts open it when a worker
    // first uses it, and their ops fail with the reason until it is writable.
    try {
      const store = new CacheStore(c.path, c);
      try {
        store.recover();
      } finally {
        store.close();
      }
    } catch (err) {
      process.stderr.write(`edgefn: the Cache API's store ${c.path} cannot be prepared (${err instanceof Error ? err.message : String(err)}); cache operations fail until it can be written\n`);
    }
    return c;
  }

  async start(): Promise<NodeAddresses> {
    const { token, file } = loadToken(this.config);
    const prelude = await buildPrelude();
    const supervisor = (this.#supervisor = new HostSupervisor({
      hosts: this.config.hosts,
      rssCapMb: this.config.hostRssMb,
      hangMs: this.config.hostHangMs,
      config: {
        dbPath: join(this.config.dataDir, 'edgefn.db'),
        kvPath: join(this.config.dataDir, 'kv.db'),
        databaseUrl: this.config.databaseUrl,
        snapshotDir: join(this.config.dataDir, 'snapshots'),
        prelude,
        defaults: this.config.limits,
        baseDomain: this.config.baseDomain,
        keepAliveTimeoutMs: this.config.http.keepAliveTimeoutMs,
        headersTimeoutMs: this.config.http.headersTimeoutMs,
        requestTimeoutMs: this.config.http.requestTimeoutMs,
        poolSize: this.config.poolSize,
        maxLive: this.config.maxLive,
        maxLiveMb: this.config.maxLiveMb,
        startupCpuMs: this.config.startupCpuMs,
        // Past the soft cap a host is drained gracefully; past this one it is ended at once.
        hardRssMb: Math.max(Math.round(this.config.hostRssMb * 1.5), this.config.hostRssMb + 512),
        fetch: this.config.fetch,
        cache: this.#cacheConfig(),
        region: this.#cluster === undefined ? undefined : this.config.region,
        webSocket: this.config.webSocket,
      },
      onLog: (name, line) => {
        this.#logs.add(name, line);
      },
      onReport: (host, stats, functions) => {
        this.#metrics.record(host, stats, functions);
        for (const f of functions) this.#usage.record(f, this.#tags.tenant(f.name), this.#memoryMb(f.name));
      },
      onCache: (name, version, cache) => {
        if (!this.#closed) this.#store.setCache(name, version, cache);
      },
      onHostEvent: (event) => process.stderr.write(`edgefn: ${event}\n`),
      // The front door starts after the hosts; until it does, no connection can be left to readmit.
      readmit: (socket, closeIfSilent) => (this.#data === undefined ? socket.destroy() : this.#data.readmit(socket, closeIfSilent)),
    }));
    await supervisor.ready();
    const scheduler = (this.#scheduler = new Scheduler({
      dbPath: join(this.config.dataDir, 'edgefn.db'),
      schedules: () => this.#store.schedules(),
      run: (name, version, cron, time) => supervisor.scheduled(name, version, cron, time),
      log: (name, level, message) => void this.#logs.add(name, { level, message, version: this.#store.current(name) }),
      // In a cluster every node holding the function has its schedules; the
      // node whose claim in PostgreSQL succeeds runs each time, once.
      ...(this.#cluster === undefined ? {} : { claim: (name: string, cron: string, time: number) => this.#cluster!.claimCron(name, cron, time) }),
    }));
    scheduler.start();

    this.#data = createFrontDoor({
      headersTimeoutMs: this.config.http.headersTimeoutMs,
      readmitIdleMs: this.config.http.keepAliveTimeoutMs,
      maxConnections: this.config.http.maxConnections,
      maxConnectionsPerClient: this.config.maxConnectionsPerClient,
      keyFor: (host, target) => this.#keyFor(host, target),
      adopt: (socket, head, key) => supervisor.adopt(socket, head, key),
      ...(this.#cluster === undefined ? {} : { divert: (host: string | undefined, target: string) => this.#cluster!.divert(host, target) }),
    });
    const dataPort = await listen(this.#data, this.config.port, this.config.listen);
    if (this.#cluster !== undefined) supervisor.setFrontUrl(`http://${reachable(this.config.listen)}:${dataPort}`);
    const app = createControlApi({
      token,
      functionUrl: (name) => `http://${name}.${this.config.baseDomain}:${dataPort}/`,
      list: () => this.#cluster?.list() ?? this.#store.list(),
      get: (name) => (this.#cluster === undefined ? this.#store.get(name) : this.#cluster.get(name)),
      deploy: (name, d) => this.#deploy(name, d),
      delete: async (name) => {
        if (this.#cluster !== undefined) return this.#cluster.delete(name);
        const ok = this.#store.delete(name);
        const hadPatterns = this.#patterns.of(name).length > 0;
        this.#patterns.delete(name);
        this.#routes.delete(name);
        this.#logs.delete(name);
        this.#tags.delete(name);
        if (hadPatterns) await supervisor.setPatterns(name, []);
        scheduler.refresh();
        await supervisor.setRoute(name, null);
        supervisor.forget(name);
        return ok;
      },
      logs: (name, since, limit) => this.#logs.get(name, since, limit),
      tailLogs: (name, listener) => this.#logs.subscribe(name, listener),
      tailHeartbeatMs: this.config.logHeartbeatMs,
      tags: (name) => this.#tags.get(name),
      metrics: async () => ({ contentType: this.#metrics.contentType, body: await this.#metrics.render(supervisor.hostStats(), supervisor.restarts) }),
      metricsPublic: this.config.metricsPublic,
      usage: (q) => this.#usage.query(q),
      routes: (name) => this.#patterns.of(name),
      placement: (name) => this.#placement(name),
      regions: () => this.#regions(`http://${this.config.listen}:${dataPort}`),
      versions: (name) => this.#versions(name),
      rollback: (name, version) => this.#queue(name, () => this.#rollback(name, version)),
      setTraffic: (name, traffic, sticky) => this.#queue(name, () => this.#setTraffic(name, traffic, sticky)),
      bindings: (name) => {
        const version = this.#store.current(name);
        return version === undefined ? undefined : this.#store.bindings(name, version);
      },
      trigger: async (name, cron) => {
        const version = this.#store.current(name);
        if (version === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}" on this node`);
        return scheduler.trigger(name, version, cron);
      },
      cronRuns: (name) => scheduler.runs(name).map((r) => ({ cron: r.cron, lastScheduled: new Date(r.lastScheduled).toISOString(), lastOutcome: r.lastOutcome, lastError: r.lastError })),
      kv: this.#clusterKv?.access ?? this.#kv,
      stats: () => ({ snapshotPath: supervisor.snapshotPath, functions: this.#routes.size, hostRestarts: supervisor.restarts, hosts: supervisor.hostStats() }),
    });
    this.#api = createServer(serverTimeouts(this.config.http), getRequestListener(app.fetch));
    const apiPort = await listen(this.#api, this.config.apiPort, this.config.listen);
    this.addresses = { dataUrl: `http://${this.config.listen}:${dataPort}`, apiUrl: `http://${this.config.listen}:${apiPort}`, tokenFile: file };
    this.#clusterKv?.replica.start();
    await this.#cluster?.start({ dataUrl: this.addresses.dataUrl, apiUrl: this.addresses.apiUrl, advertiseUrl: this.config.advertiseUrl ?? this.addresses.dataUrl });
    return this.addresses;
  }

  /** Deploys of one name run one at a time, so versions are assigned in order. */
  #deploy(name: string, d: ValidDeploy): Promise<{ version: number; created: boolean }> {
    const prev = this.#deploying.get(name) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(async () => {
      // Refused before any isolate work; the store checks again as it commits.
      const taken = d.routes === undefined ? undefined : this.#patterns.conflict(name, d.routes);
      if (taken !== undefined) throw routeConflict(taken.pattern, taken.owner);
      const src = d.source;
      const flags = d.compatibilityFlags;
      const prepared = src.kind === 'script' ? await prepareScript(src.script, d.format, `${name}.js`, flags) : await prepareModules(src, flags);
      const cache = await this.supervisor.validate(name, prepared.format, prepared.code, { ...d.vars, ...d.secrets }, d.limits, flags);
      const source = src.kind === 'script' ? src.script : JSON.stringify({ main: src.main, modules: src.modules });
      if (this.#cluster !== undefined) {
        // Recorded in PostgreSQL; this node (like every other) installs it from there.
        const bindings = d.crons.length > 0 || Object.keys(d.kv).length > 0 || flags.length > 0 ? JSON.stringify({ crons: d.crons, kv: d.kv, ...(flags.length > 0 ? { compatibilityFlags: flags } : {}) }) : null;
        const result = await this.#cluster.deploy({ name, regions: d.regions, near: d.near, format: prepared.format, source, code: prepared.code, vars: JSON.stringify(d.vars), secrets: JSON.stringify(d.secrets), limits: JSON.stringify(d.limits), rollout: d.rollout ?? undefined, routes: d.routes, bindings });
        this.#tags.set(name, d.tags);
        // Installed from PostgreSQL by #applyRoutes, which keeps a split's warm versions.
        if (d.rollout === null) this.supervisor.forget(name);
        return result;
      }
      if (d.near !== null) throw new EdgefnError('ERR_INVALID_INPUT', '"placement.near" chooses among regions: this node is not part of a cluster (EDGEFN_DATABASE_URL is not set), so it has one region and the field cannot apply');
      if (d.regions !== null && !d.regions.includes(this.config.region)) throw new EdgefnError('ERR_INVALID_INPUT', `"regions" must include "${this.config.region}": this node is not part of a cluster (EDGEFN_DATABASE_URL is not set), so it can only run functions in its own region`);
      const result = this.#store.deploy({ name, format: prepared.format, source: src.kind === 'script' ? src.script : JSON.stringify({ main: src.main, modules: src.modules }), code: prepared.code, vars: d.vars, secrets: d.secrets, limits: d.limits, cache, crons: d.crons, kv: d.kv, compatibilityFlags: flags }, d.rollout ?? undefined, d.routes);
      this.#tags.set(name, d.tags);
      // Acknowledged only once every host routes to the new version (and its
      // routes lead there: set after the version, so they never lead nowhere).
      await this.#serve(name, result.routing);
      if (d.routes !== undefined) {
        this.#patterns.set(name, d.routes);
        await this.supervisor.setPatterns(name, d.routes);
      }
      this.#scheduler?.refresh();
      return { version: result.version, created: result.created };
    });
    this.#deploying.set(name, run);
    void run.finally(() => {
      if (this.#deploying.get(name) === run) this.#deploying.delete(name);
    }).catch(() => {});
    return run;
  }

  /** Run `work` after every deploy, rollback and traffic change of `name` already queued. */
  #queue<T>(name: string, work: () => Promise<T>): Promise<T> {
    const prev = this.#deploying.get(name) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(work);
    this.#deploying.set(name, run);
    void run.finally(() => {
      if (this.#deploying.get(name) === run) this.#deploying.delete(name);
    }).catch(() => {});
    return run;
  }

  /**
   * Make every host serve `routing` (resolves once they do), then drop the
   * warm isolates of versions that no longer receive traffic.
   */
  async #serve(name: string, routing: Routing): Promise<void> {
    this.#routes.set(name, { name, version: routing.current });
    await this.supervisor.setRoute(name, routing.current, { traffic: routing.traffic, sticky: routing.sticky });
    this.supervisor.forget(name, servedVersions(routing));
  }

  #routingResponse(name: string, r: Routing): RoutingResponse {
    return { name, current: r.current, previous: r.previous, traffic: shares(r), sticky: r.sticky };
  }

  async #versions(name: string): Promise<VersionsResponse> {
    if (this.#cluster !== undefined) return this.#cluster.versions(name);
    const routing = this.#store.routing(name);
    if (routing === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    const split = shares(routing);
    return {
      ...this.#routingResponse(name, routing),
      versions: this.#store.versions(name).map((v) => ({ ...v, current: v.version === routing.current, percent: split.find((s) => s.version === v.version)?.percent ?? 0 })),
    };
  }

  async #rollback(name: string, version: number | undefined): Promise<RoutingResponse> {
    if (this.#cluster !== undefined) return this.#cluster.rollback(name, version);
    const routing = this.#store.rollback(name, version);
    await this.#serve(name, routing);
    return this.#routingResponse(name, routing);
  }

  async #setTraffic(name: string, traffic: TrafficShare[], sticky: StickyKey | null): Promise<RoutingResponse> {
    if (this.#cluster !== undefined) return this.#cluster.setTraffic(name, traffic, sticky);
    const routing = this.#store.setTraffic(name, traffic, sticky);
    await this.#serve(name, routing);
    return this.#routingResponse(name, routing);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const closeServer = (s: Server | NetServer | undefined) =>
        new Promise<void>((resolve) => {
          if (s === undefined || !s.listening) return resolve();
          s.close(() => resolve());
          if ('closeAllConnections' in s) s.closeAllConnections();
        });
      // The data plane's server counts every connection it handed to a host
      // (it keeps their descriptors), so it finishes closing only once the
      // hosts have gone and their connections with them: close both at once.
      const scheduler = this.#scheduler?.close();
      await Promise.all([closeServer(this.#data), closeServer(this.#api), this.#supervisor?.close()]);
      await scheduler;
      await this.#cluster?.close();
      // After the hosts' last reports (supervisor.close asks for them).
      this.#usage.close();
      this.#tags.close();
      await this.#clusterKv?.replica.close();
      await this.#clusterKv?.db.close();
      this.#store.close();
      this.#kv.close();
    })();
    return this.#closed;
  }
}
