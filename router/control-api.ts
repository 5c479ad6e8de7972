// The control API: deploy, list, show, delete, logs. A hono app; every route
// needs the node's bearer token. Request and response shapes are sdk/wire.ts.

import { Hono, type Context } from 'hono';
import { timingSafeEqual } from 'node:crypto';
import { checkModuleSet, EdgefnError, MAX_SCRIPT_BYTES, parseCompatibilityFlags, parseLimits, WORKER_FORMATS, type CompatibilityFlag, type ModuleSet, type WorkerFormat } from '../runtime/index.ts';
import { FUNCTION_NAME_PATTERN, REGION_PATTERN, type DeployResponse, type FunctionInfo, type ModulesDeployRequest, type PlacementInfo, type RegionsResponse, type RoutingResponse, type ScriptDeployRequest, type StickyKey, type TrafficShare, type VersionsResponse } from '../sdk/wire.ts';
import { nearEndpoint } from './cluster/near.ts';
import { parseRoutes } from './route-table.ts';
import type { DeployRollout, StoredFunction, VersionBindings } from './store.ts';
import { parsePercent, parseSticky, parseTraffic, parseVersion } from './traffic-split.ts';
import type { LogEntry, UsageResponse, UsageRow } from '../sdk/wire.ts';
import type { LogSince } from './function-logs.ts';
import { parseTags } from './function-tags.ts';
import { logTailResponse } from './log-tail.ts';
import { usageCsv, usageNdjson, type UsageQuery } from './usage.ts';

/** Most log lines one GET returns; the default when no `limit` is given. */
const MAX_LOG_LIMIT = 10_000;
const DEFAULT_LOG_LIMIT = 1000;
/** Longest range one usage query may cover (ms): 400 days. */
const MAX_USAGE_RANGE_MS = 400 * 24 * 3_600_000;
import { checkCron, parseTriggers } from './cron.ts';
import { KvInputError } from './kv-store.ts';
import type { KvAccess } from './cluster/kv-replica.ts';
import { KV_LIMITS, KV_NAMESPACE_PATTERN, type CronRunInfo, type TriggerRequest, type TriggerResponse, type ScheduledOutcome } from '../sdk/wire.ts';

/** Deploy bodies above this are refused before parsing (the script itself may be 10 MB; JSON escaping adds to it). */
export const MAX_DEPLOY_BODY_BYTES = 2 * MAX_SCRIPT_BYTES + 1024 * 1024;

export interface ControlApiDeps {
  token: string;
  functionUrl(name: string): string;
  list(): StoredFunction[];
  get(name: string): StoredFunction | undefined;
  deploy(name: string, req: ValidDeploy): Promise<{ version: number; created: boolean }>;
  delete(name: string): Promise<boolean>;
  /** Kept lines of `name`: after `since` (the first `limit`), or the last `limit`. */
  logs(name: string, since?: LogSince, limit?: number): LogEntry[];
  /** Every new line of `name`, until the returned unsubscribe is called. */
  tailLogs?(name: string, listener: (entry: LogEntry) => void): () => void;
  /** Time between a log tail's heartbeats, ms. Default 15000. */
  tailHeartbeatMs?: number;
  /** A function's deploy tags. */
  tags?(name: string): Record<string, string> | undefined;
  /** The Prometheus exposition of GET /metrics. */
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** GET /metrics answers without the token (EDGEFN_METRICS_PUBLIC=1). */
  metricsPublic?: boolean;
  usage?(q: UsageQuery): UsageRow[];
  /** A function's custom routes (normalized patterns, sorted). */
  routes?(name: string): string[];
  stats(): unknown;
  placement(name: string): PlacementInfo;
  regions(): RegionsResponse;
  /** Rejects with ERR_NOT_FOUND when there is no such function. */
  versions(name: string): Promise<VersionsResponse>;
  /** `version` undefined: the version current before the current one. */
  rollback(name: string, version: number | undefined): Promise<RoutingResponse>;
  setTraffic(name: string, traffic: TrafficShare[], sticky: StickyKey | null): Promise<RoutingResponse>;
  /** A function's cron triggers and KV bindings, for describing it. */
  bindings?(name: string): VersionBindings | undefined;
  /** Run the function's scheduled handler now, as `cron`. */
  trigger?(name: string, cron: string): Promise<{ scheduledTime: number } & ScheduledOutcome>;
  /** The recorded runs of the function's schedules on this node. */
  cronRuns?(name: string): CronRunInfo[];
  /** The node's KV namespaces, for /v1/kv. */
  kv?: KvAccess;
}

export interface ValidDeploy {
  /** The code: one script, or a set of modules with its main. */
  source: { kind: 'script'; script: string } | ({ kind: 'modules' } & ModuleSet);
  format: WorkerFormat;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  limits: ReturnType<typeof parseLimits>;
  /** null: every region. */
  regions: string[] | null;
  /** placement.near, or null. */
  near: string | null;
  /** A gradual rollout ("percent", "sticky"); null: the new version takes all traffic. */
  rollout: DeployRollout | null;
  /** Owner-defined tags ({} for none); `tenant` meters usage. */
  tags: Record<string, string>;
  /** Normalized custom route patterns; undefined: keep the function's routes as they are. */
  routes?: string[] | undefined;
  /** Cron expressions of its scheduled triggers, normalized (router/cron.ts). */
  crons: string[];
  /** KV bindings: binding name → namespace. */
  kv: Record<string, string>;
  /** Compatibility flags, checked (runtime/node-compat/flags.ts); [] for none. */
  compatibilityFlags: CompatibilityFlag[];
}

function placementNear(value: unknown): string | null {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EdgefnError('ERR_INVALID_INPUT', '"placement" must be an object like { "near": "https://api.example.com" }');
  for (const k of Object.keys(value)) if (k !== 'near') throw new EdgefnError('ERR_INVALID_INPUT', `"placement" has unknown field "${k}" (known: near)`);
  const near = (value as { near?: unknown }).near;
  if (typeof near !== 'string' || near.length > 2048) throw new EdgefnError('ERR_INVALID_INPUT', '"placement.near" must be the URL of the backend the function talks to (up to 2048 characters)');
  const end = nearEndpoint(near);
  if (typeof end === 'string') throw new EdgefnError('ERR_INVALID_INPUT', end);
  return near;
}

function kvBindings(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EdgefnError('ERR_INVALID_INPUT', '"kv" must be an object of binding name → namespace, like { "CACHE": "my-namespace" }');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new EdgefnError('ERR_INVALID_INPUT', `kv binding "${k}" is not a valid binding name (letters, digits and _; not starting with a digit)`);
    if (typeof v !== 'string' || !KV_NAMESPACE_PATTERN.test(v)) throw new EdgefnError('ERR_INVALID_INPUT', `kv.${k} must be a namespace name (1 to 64 characters of A-Z, a-z, 0-9, _ and -), got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

function regionList(value: unknown): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length === 0) throw new EdgefnError('ERR_INVALID_INPUT', '"regions" must be a non-empty array of region names (leave it out for every region)');
  for (const r of value) if (typeof r !== 'string' || !REGION_PATTERN.test(r)) throw new EdgefnError('ERR_INVALID_INPUT', `"regions" has ${JSON.stringify(r)}, which is not a region name (1 to 63 characters of a-z, 0-9 and -)`);
  return [...new Set(value as string[])].sort();
}


function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EdgefnError('ERR_INVALID_INPUT', `${field} must be an object of string values`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new EdgefnError('ERR_INVALID_INPUT', `${field} key "${k}" is not a valid binding name (letters, digits and _; not starting with a digit)`);
    // Assigning it would set the map's prototype, not a binding: the var would vanish without a word.
    if (k === '__proto__') throw new EdgefnError('ERR_INVALID_INPUT', `${field} key "__proto__" is reserved`);
    if (typeof v !== 'string') throw new EdgefnError('ERR_INVALID_INPUT', `${field}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

export function validateDeploy(body: unknown): ValidDeploy {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new EdgefnError('ERR_INVALID_INPUT', 'the body must be a JSON object like { "script": "…" }');
  const b = body as Partial<Record<keyof ScriptDeployRequest | keyof ModulesDeployRequest, unknown>> & { format?: WorkerFormat };
  const known = ['script', 'modules', 'main', 'format', 'vars', 'secrets', 'limits', 'regions', 'placement', 'percent', 'sticky', 'tags', 'routes', 'triggers', 'kv', 'compatibilityFlags'];
  for (const k of Object.keys(b)) if (!known.includes(k)) throw new EdgefnError('ERR_INVALID_INPUT', `unknown field "${k}" (known: ${known.join(', ')})`);
  const format = b.format ?? 'module';
  if (!(WORKER_FORMATS as readonly string[]).includes(format)) throw new EdgefnError('ERR_INVALID_INPUT', `"format" must be one of ${WORKER_FORMATS.join(', ')}`);
  let source: ValidDeploy['source'];
  if (b.script !== undefined && b.modules !== undefined) throw new EdgefnError('ERR_INVALID_INPUT', 'give either "script" or "modules" (with "main"), not both');
  if (b.modules !== undefined || b.main !== undefined) {
    if (b.modules === undefined) throw new EdgefnError('ERR_INVALID_INPUT', '"main" needs "modules"');
    if (format !== 'module') throw new EdgefnError('ERR_INVALID_INPUT', '"modules" are ES modules: "format" must be module');
    source = { kind: 'modules', ...checkModuleSet(b.modules, b.main) };
  } else {
    if (typeof b.script !== 'string') throw new EdgefnError('ERR_INVALID_INPUT', b.script === undefined ? 'the "script" field is required (or "modules" with "main")' : '"script" must be a string');
    if (b.script.trim() === '') throw new EdgefnError('ERR_INVALID_INPUT', '"script" is empty');
    const size = Buffer.byteLength(b.script);
    if (size > MAX_SCRIPT_BYTES) throw new EdgefnError('ERR_INVALID_INPUT', `"script" is ${size} bytes; the limit is ${MAX_SCRIPT_BYTES} bytes (10 MB)`);
    source = { kind: 'script', script: b.script };
  }
  const vars = stringMap(b.vars, 'vars');
  const secrets = stringMap(b.secrets, 'secrets');
  for (const k of Object.keys(secrets)) if (k in vars) throw new EdgefnError('ERR_INVALID_INPUT', `"${k}" is both a var and a secret`);
  const { percent, sticky } = body as { percent?: unknown; sticky?: unknown };
  if (percent === undefined && sticky !== undefined) throw new EdgefnError('ERR_INVALID_INPUT', '"sticky" applies to a traffic split: give "percent" too (or set it later with PUT /v1/functions/{name}/traffic)');
  const rollout = percent === undefined ? null : { percent: parsePercent(percent, '"percent"'), sticky: parseSticky(sticky) };
  const extra = body as { triggers?: unknown; kv?: unknown };
  const crons = parseTriggers(extra.triggers);
  const kv = kvBindings(extra.kv);
  for (const k of Object.keys(kv)) if (k in vars || k in secrets) throw new EdgefnError('ERR_INVALID_INPUT', `"${k}" is both a KV binding and a ${k in vars ? 'var' : 'secret'}`);
  return {
    source,
    format,
    vars,
    secrets,
    limits: parseLimits(b.limits),
    regions: regionList((body as { regions?: unknown }).regions),
    near: placementNear((body as { placement?: unknown }).placement),
    rollout,
    tags: parseTags((body as { tags?: unknown }).tags),
    routes: parseRoutes((body as { routes?: unknown }).routes),
    crons,
    kv,
    compatibilityFlags: parseCompatibilityFlags((body as { compatibilityFlags?: unknown }).compatibilityFlags),
  };
}

/**
 * The body as text, refused as soon as it passes `limit` bytes: a chunked
 * upload with no Content-Length is cut off there instead of being buffered whole.
 */
async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (body === null) return '';
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new EdgefnError('ERR_INVALID_INPUT', `the request body is over the limit of ${limit} bytes (scripts may be 10 MB)`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Bodies of rollbacks and traffic changes: a few hundred bytes of JSON. */
const SMALL_BODY_BYTES = 64 * 1024;

/** A small JSON body; undefined when it is empty and `optional`. */
async function smallJson(c: Context, what: string, optional: boolean): Promise<unknown> {
  const text = await readLimited(c.req.raw.body, SMALL_BODY_BYTES);
  if (text.trim() === '') {
    if (optional) return undefined;
    throw new EdgefnError('ERR_INVALID_INPUT', `send ${what} as a JSON body`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EdgefnError('ERR_INVALID_INPUT', `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

const STATUS: Partial<Record<string, 400 | 404 | 409 | 500 | 503>> = {
  ERR_INVALID_INPUT: 400,
  ERR_SCRIPT_COMPILE: 400,
  ERR_SCRIPT_STARTUP: 400,
  ERR_NO_HANDLER: 400,
  ERR_CPU_LIMIT: 400,
  ERR_MEMORY_LIMIT: 400,
  ERR_NOT_FOUND: 404,
  ERR_ROUTE_CONFLICT: 409,
  ERR_HOST_RESTART: 503,
  ERR_CLOSED: 503,
  ERR_STORE_UNAVAILABLE: 503,
};

function describeBindings(b: VersionBindings | undefined): Pick<FunctionInfo, 'triggers' | 'kv' | 'compatibilityFlags'> {
  if (b === undefined) return {};
  return {
    ...(b.crons.length > 0 ? { triggers: { crons: b.crons } } : {}),
    ...(Object.keys(b.kv).length > 0 ? { kv: b.kv } : {}),
    ...(b.compatibilityFlags !== undefined && b.compatibilityFlags.length > 0 ? { compatibilityFlags: b.compatibilityFlags } : {}),
  };
}

/** A KV store's refusal as our 400. */
async function kvInput<T>(run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof KvInputError) throw new EdgefnError('ERR_INVALID_INPUT', err.message);
    throw err;
  }
}

/** A numeric query parameter, or undefined when absent. */
function numberParam(c: Context, name: string): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new EdgefnError('ERR_INVALID_INPUT', `query parameter "${name}" must be a number, got ${JSON.stringify(v)}`);
  return n;
}

export function createControlApi(deps: ControlApiDeps): Hono {
  const app = new Hono();
  const describe = (f: StoredFunction): FunctionInfo => ({
    name: f.name,
    version: f.version,
    format: f.format,
    url: deps.functionUrl(f.name),
    vars: f.vars,
    secrets: f.secretNames,
    limits: f.limits,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
    placement: deps.placement(f.name),
    ...(deps.tags?.(f.name) === undefined ? {} : { tags: deps.tags(f.name)! }),
    ...(deps.routes === undefined ? {} : { routes: deps.routes(f.name) }),
    ...describeBindings(deps.bindings?.(f.name)),
  });
  const checkName = (c: Context): string => {
    const name = c.req.param('name') ?? '';
    if (!FUNCTION_NAME_PATTERN.test(name)) throw new EdgefnError('ERR_INVALID_INPUT', `function name "${name}" is not valid: use 1 to 63 characters of a-z, 0-9 and -`);
    return name;
  };

  app.use('*', async (c, next) => {
    if (deps.metricsPublic === true && c.req.path === '/metrics') return next();
    const auth = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (m === null || !tokenMatches(m[1]!.trim(), deps.token)) {
      return c.json(errorBody('ERR_UNAUTHORIZED', m === null ? 'missing "Authorization: Bearer <token>" header' : 'wrong token'), 401, { 'www-authenticate': 'Bearer' });
    }
    await next();
  });

  app.onError((err, c) => {
    if (err instanceof EdgefnError) return c.json(errorBody(err.code, err.message), STATUS[err.code] ?? 500);
    return c.json(errorBody('ERR_INTERNAL', err instanceof Error ? err.message : String(err)), 500);
  });

  app.get('/v1/functions', (c) => c.json({ functions: deps.list().map(describe) }));

  app.get('/v1/functions/:name', (c) => {
    const f = deps.get(checkName(c));
    if (f === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${c.req.param('name')}"`);
    return c.json(describe(f));
  });

  const parseSince = (raw: string | undefined): LogSince | undefined => {
    if (raw === undefined || raw === '') return undefined;
    if (/^\d{1,15}$/.test(raw)) return { cursor: Number(raw) };
    const time = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
    if (Number.isNaN(time)) throw new EdgefnError('ERR_INVALID_INPUT', `"since" must be a log cursor (a line's "id") or an ISO 8601 time like 2026-12-01T22:00:00Z, got "${raw}"`);
    return { time };
  };
  const tail = (c: Context, name: string, since: LogSince | undefined): Response => {
    if (deps.tailLogs === undefined) throw new EdgefnError('ERR_NOT_FOUND', 'this node has no log tail');
    return logTailResponse({
      backlog: since === undefined ? [] : deps.logs(name, since, MAX_LOG_LIMIT),
      subscribe: (listener) => deps.tailLogs!(name, listener),
      heartbeatMs: deps.tailHeartbeatMs ?? 15_000,
      signal: c.req.raw.signal,
    });
  };

  app.get('/v1/functions/:name/logs', (c) => {
    const name = checkName(c);
    if (deps.get(name) === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    const since = parseSince(c.req.query('since'));
    if (/\btext\/event-stream\b/.test(c.req.header('accept') ?? '')) return tail(c, name, since ?? parseSince(c.req.header('last-event-id')));
    const rawLimit = c.req.query('limit');
    const limit = rawLimit === undefined ? DEFAULT_LOG_LIMIT : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOG_LIMIT) throw new EdgefnError('ERR_INVALID_INPUT', `"limit" must be an integer from 1 to ${MAX_LOG_LIMIT}, got "${rawLimit}"`);
    const logs = deps.logs(name, since, limit);
    const cursor = logs.at(-1)?.id ?? (since !== undefined && 'cursor' in since ? String(since.cursor) : undefined);
    return c.json(cursor === undefined ? { logs } : { logs, cursor });
  });

  app.get('/v1/functions/:name/logs/tail', (c) => {
    const name = checkName(c);
    if (deps.get(name) === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    // Last-Event-ID is what an EventSource sends on reconnecting; `since` is for the first connection.
    return tail(c, name, parseSince(c.req.header('last-event-id')) ?? parseSince(c.req.query('since')));
  });

  app.get('/metrics', async (c) => {
    if (deps.metrics === undefined) throw new EdgefnError('ERR_NOT_FOUND', 'this node has no metrics');
    const { contentType, body } = await deps.metrics();
    return c.body(body, 200, { 'content-type': contentType });
  });

  app.get('/v1/usage', (c) => {
    if (deps.usage === undefined) throw new EdgefnError('ERR_NOT_FOUND', 'this node does not meter usage');
    const time = (field: string, fallback: number): number => {
      const raw = c.req.query(field);
      if (raw === undefined || raw === '') return fallback;
      const t = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
      if (Number.isNaN(t)) throw new EdgefnError('ERR_INVALID_INPUT', `"${field}" must be an ISO 8601 time like 2026-12-01T00:00:00Z, got "${raw}"`);
      return t;
    };
    const to = time('to', Date.now());
    const from = time('from', to - 24 * 3_600_000);
    if (from >= to) throw new EdgefnError('ERR_INVALID_INPUT', '"from" must be before "to"');
    if (to - from > MAX_USAGE_RANGE_MS) throw new EdgefnError('ERR_INVALID_INPUT', `the range from "from" to "to" may cover at most 400 days`);
    const fn = c.req.query('function');
    if (fn !== undefined && !FUNCTION_NAME_PATTERN.test(fn)) throw new EdgefnError('ERR_INVALID_INPUT', `"function" must be a function name (1 to 63 characters of a-z, 0-9 and -), got "${fn}"`);
    const tenant = c.req.query('tenant');
    const format = c.req.query('format') ?? 'json';
    if (!['json', 'csv', 'ndjson'].includes(format)) throw new EdgefnError('ERR_INVALID_INPUT', `"format" must be json, csv or ndjson, got "${format}"`);
    const rows = deps.usage({ from, to, function: fn, tenant });
    if (format === 'csv') return c.body(usageCsv(rows), 200, { 'content-type': 'text/csv; charset=utf-8; header=present' });
    if (format === 'ndjson') return c.body(usageNdjson(rows), 200, { 'content-type': 'application/x-ndjson' });
    const out: UsageResponse = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), usage: rows };
    return c.json(out);
  });

  app.put('/v1/functions/:name', async (c) => {
    const name = checkName(c);
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) throw new EdgefnError('ERR_INVALID_INPUT', `send the deploy as JSON with "Content-Type: application/json" (got "${type || 'none'}")`);
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > MAX_DEPLOY_BODY_BYTES) throw new EdgefnError('ERR_INVALID_INPUT', `the request body is ${declared} bytes; the limit is ${MAX_DEPLOY_BODY_BYTES} bytes (scripts may be 10 MB)`);
    const text = await readLimited(c.req.raw.body, MAX_DEPLOY_BODY_BYTES);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new EdgefnError('ERR_INVALID_INPUT', `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const valid = validateDeploy(body);
    const { version, created } = await deps.deploy(name, valid);
    const out: DeployResponse = { name, version, url: deps.functionUrl(name) };
    return c.json(out, created ? 201 : 200);
  });

  app.get('/v1/functions/:name/versions', async (c) => c.json(await deps.versions(checkName(c))));

  app.post('/v1/functions/:name/rollback', async (c) => {
    const name = checkName(c);
    const body = await smallJson(c, 'a rollback', true);
    if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body))) throw new EdgefnError('ERR_INVALID_INPUT', 'the body must be a JSON object like { "version": 7 }, or empty for the previous version');
    const b = (body ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) if (k !== 'version') throw new EdgefnError('ERR_INVALID_INPUT', `unknown field "${k}" (known: version)`);
    const version = b['version'] === undefined ? undefined : parseVersion(b['version'], '"version"');
    return c.json(await deps.rollback(name, version));
  });

  app.put('/v1/functions/:name/traffic', async (c) => {
    const name = checkName(c);
    const body = await smallJson(c, 'a traffic split', false);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new EdgefnError('ERR_INVALID_INPUT', 'the body must be a JSON object like { "traffic": [{ "version": 7, "percent": 90 }, { "version": 8, "percent": 10 }] }');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (k !== 'traffic' && k !== 'sticky') throw new EdgefnError('ERR_INVALID_INPUT', `unknown field "${k}" (known: traffic, sticky)`);
    return c.json(await deps.setTraffic(name, parseTraffic(b['traffic']), parseSticky(b['sticky'])));
  });

  app.delete('/v1/functions/:name', async (c) => {
    const name = checkName(c);
    if (!(await deps.delete(name))) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    return c.json({ deleted: name });
  });

  app.post('/v1/functions/:name/trigger', async (c) => {
    const name = checkName(c);
    if (deps.trigger === undefined) throw new EdgefnError('ERR_INVALID_INPUT', 'this node does not run scheduled triggers');
    if (deps.get(name) === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    let body: unknown;
    try {
      body = JSON.parse(await readLimited(c.req.raw.body, 64 * 1024));
    } catch (err) {
      if (err instanceof EdgefnError) throw err;
      throw new EdgefnError('ERR_INVALID_INPUT', `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}; send { "cron": "*/5 * * * *" }`);
    }
    const cron = (body as Partial<TriggerRequest> | null)?.cron;
    if (typeof cron !== 'string') throw new EdgefnError('ERR_INVALID_INPUT', 'the body must be { "cron": "<cron expression>" }');
    const normal = checkCron(cron);
    const result = await deps.trigger(name, normal);
    const out: TriggerResponse = { name, cron: normal, ...result };
    return c.json(out);
  });

  app.get('/v1/functions/:name/crons', (c) => {
    const name = checkName(c);
    if (deps.get(name) === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    return c.json({ crons: deps.cronRuns?.(name) ?? [] });
  });

  const kvStore = () => {
    if (deps.kv === undefined) throw new EdgefnError('ERR_INVALID_INPUT', 'this node has no KV storage');
    return deps.kv;
  };
  const kvNamespace = (c: Context): string => {
    const ns = c.req.param('namespace') ?? '';
    if (!KV_NAMESPACE_PATTERN.test(ns)) throw new EdgefnError('ERR_INVALID_INPUT', `KV namespace "${ns}" is not valid: use 1 to 64 characters of A-Z, a-z, 0-9, _ and -`);
    return ns;
  };

  app.get('/v1/kv/:namespace/keys', async (c) => {
    const ns = kvNamespace(c);
    const limit = numberParam(c, 'limit');
    return c.json(await kvInput(() => kvStore().list(ns, { prefix: c.req.query('prefix'), limit, cursor: c.req.query('cursor') })));
  });

  app.get('/v1/kv/:namespace/values/:key{.+}', async (c) => {
    const ns = kvNamespace(c);
    const key = c.req.param('key');
    const v = await kvInput(() => kvStore().get(ns, key));
    if (v === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no key ${JSON.stringify(key)} in KV namespace "${ns}"`);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (v.metadata !== null) headers['edgefn-kv-metadata'] = JSON.stringify(v.metadata);
    if (v.expiration !== undefined) headers['edgefn-kv-expiration'] = String(v.expiration);
    return c.body(v.value as Uint8Array<ArrayBuffer>, 200, headers);
  });

  app.put('/v1/kv/:namespace/values/:key{.+}', async (c) => {
    const ns = kvNamespace(c);
    const key = c.req.param('key');
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > KV_LIMITS.valueBytes) throw new EdgefnError('ERR_INVALID_INPUT', `the value is ${declared} bytes; the limit is ${KV_LIMITS.valueBytes} (25 MiB)`);
    const value = new Uint8Array(await c.req.arrayBuffer());
    const metaText = c.req.query('metadata');
    let metadata: unknown;
    if (metaText !== undefined) {
      try {
        metadata = JSON.parse(metaText);
      } catch {
        throw new EdgefnError('ERR_INVALID_INPUT', 'query parameter "metadata" must be JSON');
      }
    }
    await kvInput(() => kvStore().put(ns, key, value, { expirationTtl: numberParam(c, 'expiration_ttl'), expiration: numberParam(c, 'expiration'), metadata }));
    return c.json({ namespace: ns, key, bytes: value.byteLength });
  });

  app.delete('/v1/kv/:namespace/values/:key{.+}', async (c) => {
    const ns = kvNamespace(c);
    const key = c.req.param('key');
    await kvInput(() => kvStore().delete(ns, key));
    return c.json({ namespace: ns, deleted: key });
  });

  app.get('/v1/node', (c) => c.json(deps.stats() as object));

  app.get('/v1/regions', (c) => c.json(deps.regions()));

  app.notFound((c) => c.json(errorBody('ERR_NOT_FOUND', `no such API route: ${c.req.method} ${c.req.path}`), 404));
  return app;
}
