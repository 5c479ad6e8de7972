// Node configuration from the environment. Every variable is listed in the
// README's configuration table with its default; a bad value stops start-up
// with a message naming the variable.

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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const limits = { ...DEFAULT_LIMITS, ...parseLimits({
    ...(env['EDGEFN_CPU_MS'] ? { cpuMs: Number(env['EDGEFN_CPU_MS']) } : {}),
    ...(env['EDGEFN_MEMORY_MB'] ? { memoryMb: Number(env['EDGEFN_MEMORY_MB']) } : {}),
    ...(env['EDGEFN_WALL_MS'] ? { wallMs: Number(env['EDGEFN_WALL_MS']) } : {}),
  }, 'EDGEFN_CPU_MS/EDGEFN_MEMORY_MB/EDGEFN_WALL_MS') };
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
