// The control API: deploy, list, show, delete, logs. A hono app; every route
// needs the node's bearer token. Request and response shapes are sdk/wire.ts.

import { Hono, type Context } from 'hono';
import { timingSafeEqual } from 'node:crypto';
import { checkModuleSet, EdgefnError, MAX_SCRIPT_BYTES, parseLimits, WORKER_FORMATS, type ModuleSet, type WorkerFormat } from '../runtime/index.ts';
import { FUNCTION_NAME_PATTERN, REGION_PATTERN, type DeployResponse, type FunctionInfo, type ModulesDeployRequest, type PlacementInfo, type RegionsResponse, type ScriptDeployRequest } from '../sdk/wire.ts';
import { parseRoutes } from './route-table.ts';
import type { StoredFunction } from './store.ts';

/** Deploy bodies above this are refused before parsing (the script itself may be 10 MB; JSON escaping adds to it). */
export const MAX_DEPLOY_BODY_BYTES = 2 * MAX_SCRIPT_BYTES + 1024 * 1024;

export interface ControlApiDeps {
  token: string;
  functionUrl(name: string): string;
  list(): StoredFunction[];
  get(name: string): StoredFunction | undefined;
  deploy(name: string, req: ValidDeploy): Promise<{ version: number; created: boolean }>;
  delete(name: string): Promise<boolean>;
  logs(name: string): Array<{ time: string; level: string; message: string }>;
  /** A function's custom routes (normalized patterns, sorted). */
  routes?(name: string): string[];
  stats(): unknown;
  placement(name: string): PlacementInfo;
  regions(): RegionsResponse;
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
  /** Normalized custom route patterns; undefined: keep the function's routes as they are. */
  routes?: string[] | undefined;
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
    if (typeof v !== 'string') throw new EdgefnError('ERR_INVALID_INPUT', `${field}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

export function validateDeploy(body: unknown): ValidDeploy {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new EdgefnError('ERR_INVALID_INPUT', 'the body must be a JSON object like { "script": "…" }');
  const b = body as Partial<Record<keyof ScriptDeployRequest | keyof ModulesDeployRequest, unknown>> & { format?: WorkerFormat };
  const known = ['script', 'modules', 'main', 'format', 'vars', 'secrets', 'limits', 'regions', 'routes'];
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
  return { source, format, vars, secrets, limits: parseLimits(b.limits), regions: regionList((body as { regions?: unknown }).regions), routes: parseRoutes((body as { routes?: unknown }).routes) };
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
    ...(deps.routes === undefined ? {} : { routes: deps.routes(f.name) }),
  });
  const checkName = (c: Context): string => {
    const name = c.req.param('name') ?? '';
    if (!FUNCTION_NAME_PATTERN.test(name)) throw new EdgefnError('ERR_INVALID_INPUT', `function name "${name}" is not valid: use 1 to 63 characters of a-z, 0-9 and -`);
    return name;
  };

  app.use('*', async (c, next) => {
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

  app.get('/v1/functions/:name/logs', (c) => {
    const name = checkName(c);
    if (deps.get(name) === undefined) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    return c.json({ logs: deps.logs(name) });
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

  app.delete('/v1/functions/:name', async (c) => {
    const name = checkName(c);
    if (!(await deps.delete(name))) throw new EdgefnError('ERR_NOT_FOUND', `no function named "${name}"`);
    return c.json({ deleted: name });
  });

  app.get('/v1/node', (c) => c.json(deps.stats() as object));

  app.get('/v1/regions', (c) => c.json(deps.regions()));

  app.notFound((c) => c.json(errorBody('ERR_NOT_FOUND', `no such API route: ${c.req.method} ${c.req.path}`), 404));
  return app;
}
