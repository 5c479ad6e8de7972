// Node configuration from the environment. Every variable is listed in the
// README's configuration table with its default; a bad value stops start-up
// with a message naming the variable.

import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { EdgefnError, parseLimits, DEFAULT_LIMITS, type Limits } from '../runtime/index.ts';
import { FETCH_DEFAULTS, parseAllowList, CACHE_DEFAULTS } from '../runtime/index.ts';
import { REGION_PATTERN } from '../sdk/wire.ts';

export interface NodeConfig {
  listen: string;
  port: number;
  apiPort: number;
  dataDir: string;
  token: string | undefined;
  baseDomain: string;
  hosts: number;
  limits: Limits;
  poolSize: number;
  maxLive: number;
  maxLiveMb: number;
  startupCpuMs: number;
  hostRssMb: number;
  hostHangMs: number;
  /** Outbound fetch() from workers; see FetchOptions. */
  fetch: NodeFetchConfig;
  /** The Cache API's store on this node (cache.db in the data directory). */
  cache: NodeCacheConfig;
  /** This node's region (EDGEFN_REGION, default `local`). */
  region: string;
  /** The cluster's PostgreSQL (EDGEFN_DATABASE_URL); none: a standalone node on its embedded store. */
  databaseUrl: string | undefined;
  /** The data-plane URL peers use to reach this node (EDGEFN_ADVERTISE_URL); default http://<listen>:<port> once bound. */
  advertiseUrl: string | undefined;
  /** Log kept per function in the front door, bytes (EDGEFN_LOG_BYTES, default 262144). */
  logBytes: number;
  /** Time between heartbeats on a log tail, ms (EDGEFN_LOG_HEARTBEAT_MS, default 15000). */
  logHeartbeatMs: number;
  /** GET /metrics without the token (EDGEFN_METRICS_PUBLIC=1). */
  metricsPublic: boolean;
  /** Functions with Prometheus series of their own; the rest are function="_other" (EDGEFN_METRICS_TOP_FUNCTIONS, default 100). */
  metricsTopFunctions: number;
  /** How often usage sums are written to SQLite, ms (EDGEFN_USAGE_FLUSH_MS, default 5000). */
  usageFlushMs: number;
  /** Timeouts and the connection cap on the data plane and control API; see NodeHttpConfig. */
  http: NodeHttpConfig;
  /** Live data-plane connections one client address may hold (EDGEFN_MAX_CONNECTIONS_PER_CLIENT); 0: no cap. Default 512. */
  maxConnectionsPerClient: number;
  /** Workers' WebSockets; see NodeWebSocketConfig. */
  webSocket: NodeWebSocketConfig;
}

/** Bounds on the WebSockets workers accept (README: WebSockets). */
export interface NodeWebSocketConfig {
  /** ms a WebSocket may stay open (EDGEFN_WEBSOCKET_WALL_MS); past it the socket closes with 1011. Default 3,600,000 (1 hour). The node default of `limits.websocketWallMs`, which a function may set for itself (the same value as `limits.websocketWallMs` here). */
  wallMs: number;
  /** Largest message either way, bytes (EDGEFN_WEBSOCKET_MAX_MESSAGE_BYTES). Default 1,048,576. */
  maxMessageBytes: number;
  /** The worker's messages held unsent for a client that does not read, bytes (EDGEFN_WEBSOCKET_BUFFER_BYTES); past it the socket closes with 1011. Default 4,194,304. */
  maxBufferedBytes: number;
}

/** What one client connection may cost the node: how long it may take, and how many may be open. */
export interface NodeHttpConfig {
  /** ms from a request's first byte until its head is complete (slow-loris bound), on every request of a connection. Default 20,000. */
  headersTimeoutMs: number;
  /** ms from a request's first byte until its whole body has arrived; 0: no bound. Default 300,000 (node:http's own). */
  requestTimeoutMs: number;
  /** ms an idle keep-alive connection is kept open. Default 65,000. */
  keepAliveTimeoutMs: number;
  /** Data-plane connections open at once (idle keep-alive ones count); past it new ones get 503 too-many-connections. Default 10,000, lower when the process may open fewer files. */
  maxConnections: number;
}

/** Open files this process may have (the soft RLIMIT_NOFILE), or undefined where /proc does not say. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * The front door holds a descriptor for every data-plane connection (it
 * answers for a host that dies), so the connection cap must stay below its
 * open-file limit, with room for the store, the hosts' IPC channels and the
 * control API: accept() failing with EMFILE would refuse connections without
 * a word.
 */
function defaultMaxConnections(): number {
  const files = openFileLimit();
  return files === undefined ? 10_000 : Math.max(64, Math.min(10_000, files - 1024));
}

function httpConfig(env: NodeJS.ProcessEnv): NodeHttpConfig {
  const requestTimeoutMs = int(env, 'EDGEFN_REQUEST_TIMEOUT_MS', 300_000, 0, 86_400_000);
  const headersTimeoutMs = int(env, 'EDGEFN_HEADERS_TIMEOUT_MS', 20_000, 100, 3_600_000);
  // node:http refuses a headers timeout above a (non-zero) request timeout.
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) throw new EdgefnError('ERR_INVALID_INPUT', `EDGEFN_HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not be above EDGEFN_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: int(env, 'EDGEFN_KEEPALIVE_TIMEOUT_MS', 65_000, 100, 3_600_000),
    maxConnections: int(env, 'EDGEFN_MAX_CONNECTIONS', defaultMaxConnections(), 1, 1_000_000),
  };
}

function region(env: NodeJS.ProcessEnv): string {
  const raw = env['EDGEFN_REGION'] || 'local';
  if (!REGION_PATTERN.test(raw)) throw new EdgefnError('ERR_INVALID_INPUT', `EDGEFN_REGION must be 1 to 63 characters of a-z, 0-9 and -, got "${raw}"`);
  return raw;
}

function url(env: NodeJS.ProcessEnv, name: string, protocols: readonly string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new EdgefnError('ERR_INVALID_INPUT', `${name} must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) throw new EdgefnError('ERR_INVALID_INPUT', `${name} must be a ${protocols.join(' or ')} URL, got "${raw}"`);
  return raw;
}

export interface NodeFetchConfig {
  /** Outbound requests per incoming request, redirect hops included. */
  subrequests: number;
  /** ms to wait for a response head, then for each body chunk. */
  timeoutMs: number;
  /** Hosts, IPs and CIDRs exempt from SSRF protection. */
  allow: string[];
}

export interface NodeCacheConfig {
  /** Total MB the node's cache holds (EDGEFN_CACHE_MB, default 256); least recently used entries go past it. */
  maxMb: number;
  /** Largest body one entry may have, in MB (EDGEFN_CACHE_ENTRY_MB, default 50). */
  entryMb: number;
}

function allowList(env: NodeJS.ProcessEnv): string[] {
  try {
    return parseAllowList(env['EDGEFN_FETCH_ALLOW'] ?? '');
  } catch (err) {
    throw new EdgefnError('ERR_INVALID_INPUT', `EDGEFN_FETCH_ALLOW: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new EdgefnError('ERR_INVALID_INPUT', `${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  throw new EdgefnError('ERR_INVALID_INPUT', `${name} must be 1 or 0, got "${raw}"`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const limits = { ...DEFAULT_LIMITS, ...parseLimits({
    ...(env['EDGEFN_CPU_MS'] ? { cpuMs: Number(env['EDGEFN_CPU_MS']) } : {}),
    ...(env['EDGEFN_MEMORY_MB'] ? { memoryMb: Number(env['EDGEFN_MEMORY_MB']) } : {}),
    ...(env['EDGEFN_WALL_MS'] ? { wallMs: Number(env['EDGEFN_WALL_MS']) } : {}),
  }, 'EDGEFN_CPU_MS/EDGEFN_MEMORY_MB/EDGEFN_WALL_MS') };
  // Admission defaults for functions that set none: 0 (the default) is
  // unlimited, since what a node can take depends on its functions; the
  // README's Limits section says why and how to choose.
  limits.concurrency = int(env, 'EDGEFN_FUNCTION_CONCURRENCY', DEFAULT_LIMITS.concurrency, 0, 10_000);
  limits.rps = int(env, 'EDGEFN_FUNCTION_RPS', DEFAULT_LIMITS.rps, 0, 100_000);
  // WebSocket defaults for functions that set none (limits.websocketWallMs, limits.websocketMessagesPerSecond).
  limits.websocketWallMs = int(env, 'EDGEFN_WEBSOCKET_WALL_MS', DEFAULT_LIMITS.websocketWallMs, 1_000, 7 * 24 * 3_600_000);
  limits.websocketMessagesPerSecond = int(env, 'EDGEFN_WEBSOCKET_MESSAGES_PER_SECOND', DEFAULT_LIMITS.websocketMessagesPerSecond, 0, 100_000);
  // Twice the cores: a host blocked by a tenant spinning through its CPU
  // budget still leaves hosts free for everyone else (see host-supervisor.ts #pick).
  const hosts = int(env, 'EDGEFN_HOSTS', 2 * availableParallelism(), 1, 256);
  const listen = env['EDGEFN_LISTEN'] || '127.0.0.1';
  const databaseUrl = url(env, 'EDGEFN_DATABASE_URL', ['postgres:', 'postgresql:']);
  const advertiseUrl = url(env, 'EDGEFN_ADVERTISE_URL', ['http:'])?.replace(/\/+$/, '');
  // Peers would dial the wildcard address, which is themselves.
  if (databaseUrl !== undefined && advertiseUrl === undefined && ['0.0.0.0', '::', '[::]'].includes(listen)) {
    throw new EdgefnError('ERR_INVALID_INPUT', `EDGEFN_ADVERTISE_URL is required in a cluster when EDGEFN_LISTEN is ${listen}: set it to the data-plane URL other nodes reach this one at, e.g. http://10.0.1.5:8080`);
  }
  return {
    listen,
    port: int(env, 'EDGEFN_PORT', 8080, 0, 65535),
    apiPort: int(env, 'EDGEFN_API_PORT', 8081, 0, 65535),
    dataDir: resolve(env['EDGEFN_DATA'] || './.edgefn'),
    token: env['EDGEFN_TOKEN'] || undefined,
    baseDomain: (env['EDGEFN_BASE_DOMAIN'] || 'localhost').toLowerCase(),
    hosts,
    limits,
    poolSize: int(env, 'EDGEFN_POOL_SIZE', defaultPoolSize(hosts), 0, 10_000),
    maxLive: int(env, 'EDGEFN_MAX_LIVE', 1000, 1, 1_000_000),
    maxLiveMb: int(env, 'EDGEFN_MAX_LIVE_MB', 2048, 16, 1_000_000),
    startupCpuMs: int(env, 'EDGEFN_STARTUP_CPU_MS', 1000, 1, 60_000),
    hostRssMb: int(env, 'EDGEFN_HOST_RSS_MB', 3072, 64, 1_000_000),
    hostHangMs: int(env, 'EDGEFN_HOST_HANG_MS', 10_000, 100, 600_000),
    fetch: {
      subrequests: int(env, 'EDGEFN_FETCH_SUBREQUESTS', FETCH_DEFAULTS.subrequests, 1, 100_000),
      timeoutMs: int(env, 'EDGEFN_FETCH_TIMEOUT_MS', FETCH_DEFAULTS.timeoutMs, 1, 3_600_000),
      allow: allowList(env),
    },
    cache: {
      maxMb: int(env, 'EDGEFN_CACHE_MB', CACHE_DEFAULTS.maxBytes / 1048576, 1, 1_000_000),
      entryMb: int(env, 'EDGEFN_CACHE_ENTRY_MB', CACHE_DEFAULTS.maxEntryBytes / 1048576, 1, 1_000_000),
    },
    region: region(env),
    databaseUrl,
    advertiseUrl,
    http: httpConfig(env),
    // Above a peer node's forwarding pool (256 connections, router/cluster/forwarder.ts) and its probes.
    maxConnectionsPerClient: int(env, 'EDGEFN_MAX_CONNECTIONS_PER_CLIENT', 512, 0, 1_000_000),
    webSocket: {
      wallMs: limits.websocketWallMs,
      maxMessageBytes: int(env, 'EDGEFN_WEBSOCKET_MAX_MESSAGE_BYTES', 1024 * 1024, 1024, 128 * 1024 * 1024),
      maxBufferedBytes: int(env, 'EDGEFN_WEBSOCKET_BUFFER_BYTES', 4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    },
    logBytes: int(env, 'EDGEFN_LOG_BYTES', 256 * 1024, 1024, 64 * 1024 * 1024),
    logHeartbeatMs: int(env, 'EDGEFN_LOG_HEARTBEAT_MS', 15_000, 100, 600_000),
    metricsPublic: flag(env, 'EDGEFN_METRICS_PUBLIC'),
    metricsTopFunctions: int(env, 'EDGEFN_METRICS_TOP_FUNCTIONS', 100, 0, 100_000),
    usageFlushMs: int(env, 'EDGEFN_USAGE_FLUSH_MS', 5000, 10, 3_600_000),
  };
}

/** Resident memory of one pre-created isolate with its context, measured (MB). */
const PREPARED_ISOLATE_MB = 2.5;

/**
 * Pre-created isolates per host. Every function that has never run takes one
 * (a sub-millisecond cold start); one made on demand costs ~4 ms of a host's
 * thread, and a burst of never-run functions faster than refills (a client
 * walking through 100 of them on one connection) drains the pool. So the
 * pool is as deep as a tenth of the machine's memory allows across all
 * hosts, between 8 and 128 a host (128 × 2.5 MB = 320 MB a host).
 */
export function defaultPoolSize(hosts: number): number {
  const fits = Math.floor((totalmem() / 1048576) * 0.1 / PREPARED_ISOLATE_MB / hosts);
  return Math.max(8, Math.min(128, fits));
}
