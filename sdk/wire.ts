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

export const LIMIT_NAMES = ['cpuMs', 'memoryMb', 'wallMs'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** Per-function budgets; each absent field falls back to the node's default. */
export interface WireLimits {
  /** CPU time per request, in milliseconds. */
  cpuMs?: number;
  /** Isolate heap limit, in megabytes. */
  memoryMb?: number;
  /** Wall time per request including waitUntil work, in milliseconds. */
  wallMs?: number;
}

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
export interface DeployOptions {
  /** Default `module`. */
  format?: WorkerFormat;
  /** Plain-text bindings, visible in `env` and echoed back by `GET`. */
  vars?: Record<string, string>;
  /** Bindings visible in `env` whose values the API never returns (only their names). */
  secrets?: Record<string, string>;
  limits?: WireLimits;
  /** Regions to run in (a cluster's region names); default: every region, including ones added later. */
  regions?: string[];
  /** Scheduled triggers (see `TriggersConfig`). */
  triggers?: TriggersConfig;
  /** KV bindings: the name the worker sees in `env` → the namespace it opens (see KV storage). */
  kv?: Record<string, string>;
}

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
  /** Its cron triggers (absent when it has none). */
  triggers?: TriggersConfig;
  /** Its KV bindings, binding name → namespace (absent when it has none). */
  kv?: Record<string, string>;
}

/** Where a function runs. */
export interface PlacementInfo {
  /** The regions it was deployed to; null for every region. */
  regions: string[] | null;
  /** Regions holding it that the answering node reaches now, nearest first as it measures. */
  active: string[];
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
  /** ISO 8601 timestamp. */
  time: string;
  /** The console method that wrote it (`log`, `info`, `warn`, `error`, `debug`), or `error` for uncaught exceptions. */
  level: string;
  message: string;
}

/** Body of `GET /v1/functions/{name}/logs`. */
export interface LogsResponse {
  logs: LogEntry[];
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
