// The control API's JSON shapes, as they travel over HTTP. This file is the
// contract between the SDK (client side) and router/ (server side): the router
// imports these types from here, never the other way round, so a change to the
// wire format is a change to this one file.
//
// Pure types and constants only: this module ships to users and must load in
// any JavaScript environment (Node, browsers, workers).

export const WORKER_FORMATS = ['module', 'service-worker'] as const;
/** `module`: `export default { fetch }`. `service-worker`: `addEventListener('fetch', …)`. */
export type WorkerFormat = (typeof WORKER_FORMATS)[number];

/** A function name is one DNS label: it becomes `<name>.<host>` on the data plane. */
export const FUNCTION_NAME_PATTERN = /^[a-z0-9-]{1,63}$/;

/** A region name (a node's EDGEFN_REGION, a deploy's `regions`) is one DNS label too. */
export const REGION_PATTERN = /^[a-z0-9-]{1,63}$/;

export const LIMIT_NAMES = ['cpuMs', 'memoryMb', 'wallMs', 'concurrency', 'rps', 'websocketWallMs', 'websocketMessagesPerSecond'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** Per-function budgets; each absent field falls back to the node's default. */
export interface WireLimits {
  /** CPU time per request, in milliseconds. */
  cpuMs?: number;
  /** Isolate heap limit, in megabytes. */
  memoryMb?: number;
  /** Wall time per request including waitUntil work, in milliseconds. */
  wallMs?: number;
  /** Requests running at once on a node, 1 to 10 000; past it 503 `edgefn-error: overloaded`. */
  concurrency?: number;
  /** Requests per second on a node (token bucket, burst a tenth of it, at least 1), 1 to 100 000; past it 429 `edgefn-error: rate-limited`. */
  rps?: number;
  /** How long one WebSocket may stay open, in milliseconds, 1 000 to 604 800 000; past it the socket closes with 1011. */
  websocketWallMs?: number;
  /** Messages per second one WebSocket's client may send, 1 to 100 000 (a bucket holding one second's worth); past it the socket closes with 1008. */
  websocketMessagesPerSecond?: number;
}

/**
 * Compatibility flags a deploy may set (`compatibilityFlags`), named as in
 * Cloudflare Workers:
 * - `nodejs_compat`: Node.js built-in modules (`node:buffer`, `node:events`,
 *   `node:async_hooks`, …, also under their bare names) and the `Buffer` and
 *   `process` globals; see the README's "Node.js compatibility".
 * - `nodejs_compat_populate_process_env`: `process.env` holds the worker's
 *   vars and secrets (the default with `nodejs_compat`, as in Workers since
 *   compatibility date 2025-04-01); `nodejs_compat_do_not_populate_process_env`
 *   leaves it empty.
 * - `websocket_standard_binary_type`: a WebSocket's `binaryType` starts as
 *   `"blob"` (binary messages arrive as Blobs), as the WebSockets standard
 *   and Workers from spring-2026 compatibility dates have it; without it,
 *   `"arraybuffer"`.
 */
export const COMPATIBILITY_FLAGS = ['nodejs_compat', 'nodejs_compat_populate_process_env', 'nodejs_compat_do_not_populate_process_env', 'websocket_standard_binary_type'] as const;
export type CompatibilityFlag = (typeof COMPATIBILITY_FLAGS)[number];

/** The Node.js built-in modules `nodejs_compat` provides, importable as `node:<name>` and as `<name>`. */
export const NODEJS_COMPAT_MODULES = ['assert', 'async_hooks', 'buffer', 'crypto', 'events', 'path', 'process', 'stream', 'string_decoder', 'url', 'util'] as const;

/**
 * Module types of a multiple-module worker (workerd's modules format):
 * `esm` an ES module; `wasm` a WebAssembly module, imported as a
 * `WebAssembly.Module`; `text` imported as a string; `data` imported as an
 * ArrayBuffer; `json` imported as the parsed value.
 */
export const MODULE_TYPES = ['esm', 'wasm', 'text', 'data', 'json'] as const;
export type ModuleType = (typeof MODULE_TYPES)[number];

/** One module of a multiple-module worker. */
export interface WireModule {
  /** A relative path such as `index.js` or `lib/add.wasm`; imports between modules resolve against these names. */
  name: string;
  type: ModuleType;
  /** The source text for `esm`, `text` and `json`; standard base64 for `wasm` and `data`. */
  content: string;
}

/** What every deploy body may carry besides the code. */
export interface DeployOptions extends RolloutOptions {
  /** Default `module`. */
  format?: WorkerFormat;
  /** Plain-text bindings, visible in `env` and echoed back by `GET`. */
  vars?: Record<string, string>;
  /** Bindings visible in `env` whose values the API never returns (only their names). */
  secrets?: Record<string, string>;
  limits?: WireLimits;
  /** Regions to run in (a cluster's region names); default: every region, including ones added later. */
  regions?: string[];
  /** Run in the one region, of `regions`, measured nearest to this backend (cluster only). */
  placement?: { near: string };
  /**
   * Owner-defined labels, e.g. `{ "tenant": "acme" }`: usage is metered per
   * `tenant` tag. At most MAX_TAGS; names match TAG_NAME_PATTERN, values TAG_VALUE_PATTERN.
   */
  tags?: Record<string, string>;
  /**
   * Custom routes besides `<name>.<base domain>`: `host/path` patterns such as
   * `api.example.com/*`, `*.example.com/*`, `example.com/blog/*` or
   * `example.com/exact` (see the README's Routes section). Absent: the
   * function keeps the routes it has; `[]` removes them. A pattern another
   * function holds is refused with 409 (`ERR_ROUTE_CONFLICT`).
   */
  routes?: string[];
  /** Scheduled triggers (see `TriggersConfig`). */
  triggers?: TriggersConfig;
  /** KV bindings: the name the worker sees in `env` → the namespace it opens (see KV storage). */
  kv?: Record<string, string>;
  /** Compatibility flags (COMPATIBILITY_FLAGS), e.g. `["nodejs_compat"]`; an unknown one is refused with 400. */
  compatibilityFlags?: string[];
}

export const TAG_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
export const TAG_VALUE_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const MAX_TAGS = 8;

/** A worker as one script: a single ES module, or a classic script for `service-worker`. */
export interface ScriptDeployRequest extends DeployOptions {
  script: string;
  modules?: never;
  main?: never;
}

/**
 * A worker as a set of modules (format `module` only), at most 10 MB in all.
 * The node bundles them into one script.
 */
export interface ModulesDeployRequest extends DeployOptions {
  modules: WireModule[];
  /** The name of the `esm` module that exports the handler. */
  main: string;
  script?: never;
}

/** Body of `PUT /v1/functions/{name}`: exactly one of `script` and `modules` (with `main`). */
export type DeployRequest = ScriptDeployRequest | ModulesDeployRequest;

/** Body of a 201 (created) or 200 (updated) answer to `PUT /v1/functions/{name}`. */
export interface DeployResponse {
  name: string;
  /** Starts at 1 and grows by one on every deploy of the same name. */
  version: number;
  /** Where the function answers on the data plane. */
  url: string;
}

/** One function as `GET /v1/functions` and `GET /v1/functions/{name}` describe it. */
export interface FunctionInfo {
  name: string;
  version: number;
  format: WorkerFormat;
  url: string;
  vars: Record<string, string>;
  /** Names only: secret values never leave the node. */
  secrets: string[];
  limits: WireLimits;
  /** ISO 8601 timestamps. */
  createdAt: string;
  updatedAt: string;
  /** Where it runs (absent from nodes older than regions). */
  placement?: PlacementInfo;
  /** The deploy's tags (absent when it had none). */
  tags?: Record<string, string>;
  /** Its custom routes, normalized and sorted (absent from nodes older than routes). */
  routes?: string[];
  /** Its cron triggers (absent when it has none). */
  triggers?: TriggersConfig;
  /** Its KV bindings, binding name → namespace (absent when it has none). */
  kv?: Record<string, string>;
  /** Its compatibility flags (absent when it has none). */
  compatibilityFlags?: string[];
}

/** Where a function runs. */
export interface PlacementInfo {
  /** The regions it was deployed to; null for every region. */
  regions: string[] | null;
  /** Regions holding it that the answering node reaches now, nearest first as it measures. */
  active: string[];
  /** Present when deployed with `placement.near`. */
  near?: {
    /** The backend URL given. */
    url: string;
    /** The region that serves it now: of its healthy regions, the one measured nearest to the backend (null until measured). */
    region: string | null;
    /** Each healthy region's best measured latency to the backend (ms). */
    rttMs: Record<string, number>;
  };
}

/** One node of a region as `GET /v1/regions` shows it. */
export interface RegionNodeInfo {
  id: string;
  /** Its advertise URL (data plane). */
  url: string;
  /** Its last probe from the answering node succeeded. */
  healthy: boolean;
  /** EWMA of the answering node's probes of it (ms); null before the first answer. */
  rttMs: number | null;
  /** The answering node itself. */
  self: boolean;
  /** Why its last probe failed. */
  error?: string;
}

export interface RegionInfo {
  name: string;
  /** The answering node's own region. */
  self: boolean;
  /** At least one of its nodes answers (always true for the answering node's own region). */
  healthy: boolean;
  /** Round trip from the answering node to the region's nearest healthy node (ms); 0 for its own region. */
  rttMs: number | null;
  nodes: RegionNodeInfo[];
}

/** Body of `GET /v1/regions`: the answering node's region first, then nearest first. */
export interface RegionsResponse {
  region: string;
  regions: RegionInfo[];
}

/** Body of `GET /v1/functions`. */
export interface ListFunctionsResponse {
  functions: FunctionInfo[];
}

/** Body of a 200 answer to `DELETE /v1/functions/{name}`. */
export interface DeleteFunctionResponse {
  deleted: string;
}

export interface LogEntry {
  /** The line's cursor: pass it as `since` (or Last-Event-ID on the tail) to read what came after it. */
  id?: string;
  /** ISO 8601 timestamp, when the isolate wrote it. */
  time: string;
  /** The console method that wrote it (`log`, `info`, `warn`, `error`, `debug`), or `error` for uncaught exceptions. */
  level: string;
  message: string;
  /** The function version that wrote it. */
  version?: number;
  /** The `edgefn-request-id` of the request whose code wrote it. */
  requestId?: string;
}

/** Body of `GET /v1/functions/{name}/logs`. */
export interface LogsResponse {
  logs: LogEntry[];
  /** The last line's cursor (or the `since` given, when nothing is newer): pass it as `since` next time. */
  cursor?: string;
}

/** One hour of one function's (and tenant's) usage, in `GET /v1/usage`. */
export interface UsageRow {
  /** Start of the hour, ISO 8601 (UTC). */
  hour: string;
  function: string;
  /** The function's `tenant` tag when the usage was recorded; "" for none. */
  tenant: string;
  requests: number;
  cpuMs: number;
  wallMs: number;
  /** Memory limit × wall time, in GB-seconds (1 GB = 1024 MB). */
  gbSeconds: number;
  ingressBytes: number;
  egressBytes: number;
  subrequests: number;
}

/** Body of `GET /v1/usage` (format=json). */
export interface UsageResponse {
  from: string;
  to: string;
  usage: UsageRow[];
}

/** Body of every 4xx/5xx answer from the control API. */
export interface ErrorResponse {
  error: {
    /** A stable `ERR_…` code; match on this, never on `message`. */
    code: string;
    /** Written for humans: the CLI prints it verbatim. */
    message: string;
  };
}

/** One version's share of a function's traffic. */
export interface TrafficShare {
  version: number;
  /** Share of requests, in percent (more than 0, at most 100; a split's shares sum to 100). */
  percent: number;
}

/**
 * What keeps a client on one version of a split: the value of a request
 * header or of a cookie, hashed. Requests without it are split by share alone.
 */
export type StickyKey = { header: string } | { cookie: string };

/** Deploy-body fields of a gradual rollout (see `DeployOptions`). */
export interface RolloutOptions {
  /**
   * Give the new version this share of traffic (percent, more than 0 and at
   * most 100); the version current before the deploy keeps the rest.
   * Absent: the new version takes all traffic.
   */
  percent?: number;
  sticky?: StickyKey;
}

/** One stored version as `GET /v1/functions/{name}/versions` lists it. */
export interface VersionInfo {
  version: number;
  /** ISO 8601 timestamp of the deploy that made it. */
  createdAt: string;
  format: WorkerFormat;
  /** Bytes of what was uploaded (the script, or the module set's JSON). */
  size: number;
  /** The function's current version: what a rollback moves away from. */
  current: boolean;
  /** Its share of traffic now, in percent (0 for a version only kept for rollback). */
  percent: number;
}

/** Body of `GET /v1/functions/{name}/versions`: newest first, at most the last 100 deploys. */
export interface VersionsResponse {
  name: string;
  current: number;
  /** Where `POST …/rollback` with no version goes; null when there is none. */
  previous: number | null;
  /** The traffic split, or one share of 100 % for the current version. */
  traffic: TrafficShare[];
  sticky: StickyKey | null;
  versions: VersionInfo[];
}

/** Body of `POST /v1/functions/{name}/rollback`; without `version`, the one current before the current one. */
export interface RollbackRequest {
  version?: number;
}

/** Body of `PUT /v1/functions/{name}/traffic`. */
export interface TrafficRequest {
  traffic: TrafficShare[];
  sticky?: StickyKey | null;
}

/** Answer to a rollback or a traffic change: the function's routing now. */
export interface RoutingResponse {
  name: string;
  current: number;
  previous: number | null;
  traffic: TrafficShare[];
  sticky: StickyKey | null;
}

// ---- scheduled triggers ----

/** A deploy's `triggers`. */
export interface TriggersConfig {
  /**
   * Cron expressions, in UTC: Workers' five fields ("minute hour day-of-month
   * month day-of-week"), or six with a seconds field first. At most 5.
   */
  crons?: string[];
}

/** Body of `POST /v1/functions/{name}/trigger`: run the scheduled handler now, as `cron`. */
export interface TriggerRequest {
  cron: string;
}

/** The outcome of one run of a scheduled handler. */
export interface ScheduledOutcome {
  /** `ok`, or the stable error code's short form as the data plane's `edgefn-error` names it (`exception`, `cpu-limit`, …). */
  outcome: string;
  /** Why it failed, when it did. */
  error?: string;
  /** CPU time the run used (ms). */
  cpuMs: number;
}

/** Body of a 200 answer to `POST /v1/functions/{name}/trigger`. */
export interface TriggerResponse extends ScheduledOutcome {
  name: string;
  cron: string;
  /** The run's `controller.scheduledTime` (ms since the epoch). */
  scheduledTime: number;
}

/** One schedule of a function as this node has run it. */
export interface CronRunInfo {
  cron: string;
  /** ISO 8601: the last time it fired for, or when this node first saw the schedule. */
  lastScheduled: string;
  /** `ok`, an `edgefn-error` value, `skipped` (another cluster node ran it), or null (not run yet, or still running). */
  lastOutcome: string | null;
  lastError: string | null;
}

/** Body of `GET /v1/functions/{name}/crons`. */
export interface CronRunsResponse {
  crons: CronRunInfo[];
}

// ---- KV storage ----

/** A KV namespace name: 1 to 64 characters of A-Z, a-z, 0-9, _ and -. */
export const KV_NAMESPACE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Workers KV's limits, which edgefn enforces. */
export const KV_LIMITS = {
  /** Longest key, in UTF-8 bytes. */
  keyBytes: 512,
  /** Largest value, in bytes (25 MiB). */
  valueBytes: 25 * 1024 * 1024,
  /** Largest metadata, in bytes of its JSON. */
  metadataBytes: 1024,
  /** Shortest expirationTtl, and least distance of an expiration into the future, in seconds. */
  minTtlSeconds: 60,
  /** Most keys one list returns. */
  listMax: 1000,
} as const;

/** One key as a list shows it. */
export interface KvKeyInfo {
  name: string;
  /** Seconds since the epoch. */
  expiration?: number;
  metadata?: unknown;
}

/** Body of `GET /v1/kv/{namespace}/keys`, and what `list()` returns in a worker. */
export interface KvListResult {
  keys: KvKeyInfo[];
  list_complete: boolean;
  /** Pass back as `cursor` for the next page; present when `list_complete` is false. */
  cursor?: string;
}
