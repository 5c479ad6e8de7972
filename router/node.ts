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
import { createFrontDoor } from './front-door.ts';
import { FunctionLogs } from './function-logs.ts';
import { HostSupervisor } from './host-supervisor.ts';
import { FunctionStore } from './store.ts';
import { Cluster } from './cluster/cluster.ts';
import { CacheStore } from '../runtime/index.ts';
import type { HostConfig } from './host-protocol.ts';
import type { PlacementInfo, RegionsResponse } from '../sdk/wire.ts';

/** node:http timeouts on function traffic (ms): idle keep-alive connections, and a request head's arrival. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const HEADERS_TIMEOUT_MS = 60_000;

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
  readonly #logs = new FunctionLogs(200, process.env['EDGEFN_LOG_STDOUT'] === '1');
  readonly #deploying = new Map<string, Promise<unknown>>();
  readonly #cluster: Cluster | undefined;
  #supervisor: HostSupervisor | undefined;
  #data: NetServer | undefined;
  #api: Server | undefined;
  #closed: Promise<void> | undefined;
  addresses: NodeAddresses | undefined;

  constructor(config: NodeConfig) {
    this.config = config;
    mkdirSync(config.dataDir, { recursive: true });
    this.#store = new FunctionStore(join(config.dataDir, 'edgefn.db'));
    for (const f of this.#store.list()) this.#routes.set(f.name, { name: f.name, version: f.version });
    if (config.databaseUrl !== undefined) {
      this.#cluster = new Cluster({
        databaseUrl: config.databaseUrl,
        region: config.region,
        baseDomain: config.baseDomain,
        headersTimeoutMs: HEADERS_TIMEOUT_MS,
        keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
        dbPath: join(config.dataDir, 'edgefn.db'),
        store: this.#store,
        onRoutes: (routes) => this.#applyRoutes(routes),
        log: (message) => process.stderr.write(`edgefn: ${message}\n`),
      });
    }
  }

  /** Make this node's hosts serve `routes` (null: stop serving); from the cluster's replication. */
  async #applyRoutes(routes: Array<{ name: string; version: number | null }>): Promise<void> {
    for (const r of routes) {
      if (r.version === null) this.#routes.delete(r.name);
      else this.#routes.set(r.name, { name: r.name, version: r.version });
    }
    const supervisor = this.#supervisor;
    if (supervisor === undefined) return;
    await Promise.all(routes.map((r) => supervisor.setRoute(r.name, r.version)));
    for (const r of routes) supervisor.forget(r.name);
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
    const store = new CacheStore(c.path, c);
    try {
      store.recover();
    } finally {
      store.close();
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
        snapshotDir: join(this.config.dataDir, 'snapshots'),
        prelude,
        defaults: this.config.limits,
        baseDomain: this.config.baseDomain,
        keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
        headersTimeoutMs: HEADERS_TIMEOUT_MS,
        poolSize: this.config.poolSize,
        maxLive: this.config.maxLive,
        maxLiveMb: this.config.maxLiveMb,
        startupCpuMs: this.config.startupCpuMs,
        // Past the soft cap a host is drained gracefully; past this one it is ended at once.
        hardRssMb: Math.max(Math.round(this.config.hostRssMb * 1.5), this.config.hostRssMb + 512),
        fetch: this.config.fetch,
        cache: this.#cacheConfig(),
        region: this.#cluster === undefined ? undefined : this.config.region,
      },
      onLog: (name, level, message) => this.#logs.add(name, level, message),
      onCache: (name, version, cache) => {
        if (!this.#closed) this.#store.setCache(name, version, cache);
      },
      onHostEvent: (event) => process.stderr.write(`edgefn: ${event}\n`),
    }));
    await supervisor.ready();

    this.#data = createFrontDoor({
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      keyFor: (host) => {
        const name = functionName(host, this.config.baseDomain);
        const route = name === undefined ? undefined : this.#routes.get(name);
        return route === undefined ? '' : `${route.name}@${route.version}`;
      },
      adopt: (socket, head, key) => supervisor.adopt(socket, head, key),
      ...(this.#cluster === undefined ? {} : { divert: (host: string | undefined) => this.#cluster!.divert(host) }),
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
        this.#routes.delete(name);
        this.#logs.delete(name);
        await supervisor.setRoute(name, null);
        supervisor.forget(name);
        return ok;
      },
      logs: (name) => this.#logs.get(name),
      placement: (name) => this.#placement(name),
      regions: () => this.#regions(`http://${this.config.listen}:${dataPort}`),
      stats: () => ({ snapshotPath: supervisor.snapshotPath, functions: this.#routes.size, hostRestarts: supervisor.restarts, hosts: supervisor.hostStats() }),
    });
    this.#api = createServer(getRequestListener(app.fetch));
    const apiPort = await listen(this.#api, this.config.apiPort, this.config.listen);
    this.addresses = { dataUrl: `http://${this.config.listen}:${dataPort}`, apiUrl: `http://${this.config.listen}:${apiPort}`, tokenFile: file };
    await this.#cluster?.start({ dataUrl: this.addresses.dataUrl, apiUrl: this.addresses.apiUrl, advertiseUrl: this.config.advertiseUrl ?? this.addresses.dataUrl });
    return this.addresses;
  }

  /** Deploys of one name run one at a time, so versions are assigned in order. */
  #deploy(name: string, d: ValidDeploy): Promise<{ version: number; created: boolean }> {
    const prev = this.#deploying.get(name) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(async () => {
      const src = d.source;
      const prepared = src.kind === 'script' ? await prepareScript(src.script, d.format, `${name}.js`) : await prepareModules(src);
      const cache = await this.supervisor.validate(name, prepared.format, prepared.code, { ...d.vars, ...d.secrets }, d.limits);
      const source = src.kind === 'script' ? src.script : JSON.stringify({ main: src.main, modules: src.modules });
      if (this.#cluster !== undefined) {
        // Recorded in PostgreSQL; this node (like every other) installs it from there.
        const result = await this.#cluster.deploy({ name, regions: d.regions, near: d.near, format: prepared.format, source, code: prepared.code, vars: JSON.stringify(d.vars), secrets: JSON.stringify(d.secrets), limits: JSON.stringify(d.limits) });
        this.supervisor.forget(name);
        return result;
      }
      if (d.near !== null) throw new EdgefnError('ERR_INVALID_INPUT', '"placement.near" chooses among regions: this node is not part of a cluster (EDGEFN_DATABASE_URL is not set), so it has one region and the field cannot apply');
      if (d.regions !== null && !d.regions.includes(this.config.region)) throw new EdgefnError('ERR_INVALID_INPUT', `"regions" must include "${this.config.region}": this node is not part of a cluster (EDGEFN_DATABASE_URL is not set), so it can only run functions in its own region`);
      const result = this.#store.deploy({ name, format: prepared.format, source: src.kind === 'script' ? src.script : JSON.stringify({ main: src.main, modules: src.modules }), code: prepared.code, vars: d.vars, secrets: d.secrets, limits: d.limits, cache });
      this.#routes.set(name, { name, version: result.version });
      // Acknowledged only once every host routes to the new version.
      await this.supervisor.setRoute(name, result.version);
      this.supervisor.forget(name);
      return result;
    });
    this.#deploying.set(name, run);
    void run.finally(() => {
      if (this.#deploying.get(name) === run) this.#deploying.delete(name);
    }).catch(() => {});
    return run;
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
      await Promise.all([closeServer(this.#data), closeServer(this.#api), this.#supervisor?.close()]);
      await this.#cluster?.close();
      this.#store.close();
    })();
    return this.#closed;
  }
}
