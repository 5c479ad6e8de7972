// The worker sources every runtime in the benches runs: hello-world and the
// ~100 KB Hono app, built once per run into a temp dir as an ES module (edgefn,
// workerd, Node) and as a classic script (edge-runtime, node:vm).

import { build, transform } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HELLO_MODULE = `export default {\n  fetch(request) {\n    return new Response('Hello World', { headers: { 'content-type': 'text/plain' } });\n  },\n};\n`;

/** A distinct hello-world per function, so no two deploys are byte-identical (as no two tenants' are). */
export const helloModule = (i: number): string => `export default {\n  fetch(request) {\n    return new Response('Hello from function ${i}', { headers: { 'content-type': 'text/plain' } });\n  },\n};\n`;

/** The global a classic-script build leaves its module namespace on. */
export const SCRIPT_GLOBAL = '__worker';

export interface WorkerBuild {
  /** ES module with no imports: what is deployed to edgefn and workerd. */
  module: string;
  /** The same code as a classic script that assigns the namespace to globalThis.__worker. */
  script: string;
  /** Path of the module on disk (for import() in Node). */
  modulePath: string;
  bytes: number;
}

export interface BuiltWorkers {
  dir: string;
  hello: WorkerBuild;
  hono: WorkerBuild;
  /** Resource modules the Hono app was padded with to reach its size. */
  honoResources: number;
  remove(): void;
}

async function asScript(module: string): Promise<string> {
  const r = await transform(module, { format: 'iife', globalName: SCRIPT_GLOBAL, target: 'es2023', loader: 'js' });
  return r.code;
}

type FieldKind = 'string' | 'int' | 'money' | 'email' | 'date' | 'bool' | `enum:${string}`;

const RESOURCES: Array<[name: string, fields: Array<[string, FieldKind]>]> = [
  ['orders', [['customerId', 'int'], ['totalCents', 'money'], ['status', 'enum:pending|paid|shipped|cancelled'], ['placedAt', 'date'], ['note', 'string']]],
  ['customers', [['email', 'email'], ['name', 'string'], ['country', 'enum:US|CA|DE|FR|GB|JP'], ['marketing', 'bool'], ['createdAt', 'date']]],
  ['invoices', [['orderId', 'int'], ['amountCents', 'money'], ['dueAt', 'date'], ['paid', 'bool'], ['currency', 'enum:USD|EUR|GBP|JPY']]],
  ['shipments', [['orderId', 'int'], ['carrier', 'enum:ups|fedex|dhl|usps'], ['tracking', 'string'], ['weightG', 'int'], ['shippedAt', 'date']]],
  ['suppliers', [['name', 'string'], ['contact', 'email'], ['leadDays', 'int'], ['preferred', 'bool'], ['region', 'enum:na|eu|apac']]],
  ['warehouses', [['code', 'string'], ['capacity', 'int'], ['region', 'enum:na|eu|apac'], ['active', 'bool'], ['openedAt', 'date']]],
  ['coupons', [['code', 'string'], ['percentOff', 'int'], ['expiresAt', 'date'], ['stackable', 'bool'], ['minCents', 'money']]],
  ['returns', [['orderId', 'int'], ['reason', 'enum:damaged|wrong-item|late|other'], ['refundCents', 'money'], ['approved', 'bool'], ['openedAt', 'date']]],
  ['tickets', [['customerId', 'int'], ['subject', 'string'], ['priority', 'enum:low|normal|high|urgent'], ['open', 'bool'], ['updatedAt', 'date']]],
  ['employees', [['email', 'email'], ['name', 'string'], ['team', 'enum:support|ops|sales|eng'], ['salaryCents', 'money'], ['startedAt', 'date']]],
  ['payments', [['invoiceId', 'int'], ['amountCents', 'money'], ['method', 'enum:card|bank|wallet'], ['settled', 'bool'], ['settledAt', 'date']]],
  ['subscriptions', [['customerId', 'int'], ['plan', 'enum:basic|plus|pro'], ['priceCents', 'money'], ['renews', 'bool'], ['renewsAt', 'date']]],
  ['banners', [['title', 'string'], ['slot', 'enum:home|cart|checkout'], ['weight', 'int'], ['visible', 'bool'], ['startsAt', 'date']]],
  ['webhooks', [['url', 'string'], ['event', 'enum:order.paid|order.shipped|refund.issued'], ['retries', 'int'], ['enabled', 'bool'], ['createdAt', 'date']]],
  ['audits', [['actor', 'email'], ['action', 'string'], ['severity', 'enum:info|warn|error'], ['reviewed', 'bool'], ['at', 'date']]],
  ['taxrates', [['country', 'enum:US|CA|DE|FR|GB|JP'], ['basisPoints', 'int'], ['inclusive', 'bool'], ['label', 'string'], ['since', 'date']]],
];

function check(f: string, kind: FieldKind): string {
  const v = `input.${f}`;
  const skip = `if (${v} === undefined) { if (!partial) errors.push('${f} is required'); }`;
  switch (kind) {
    case 'string':
      return `${skip} else if (typeof ${v} !== 'string' || ${v}.trim().length === 0 || ${v}.length > 200) errors.push('${f}: 1 to 200 characters');`;
    case 'int':
      return `${skip} else if (typeof ${v} !== 'number' || !Number.isInteger(${v}) || ${v} < 0) errors.push('${f}: a non-negative integer');`;
    case 'money':
      return `${skip} else if (typeof ${v} !== 'number' || !Number.isSafeInteger(${v}) || ${v} < 0 || ${v} > 1e10) errors.push('${f}: an amount in cents');`;
    case 'email':
      return `${skip} else if (typeof ${v} !== 'string' || !/^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$/i.test(${v})) errors.push('${f}: an email address');`;
    case 'date':
      return `${skip} else if (typeof ${v} !== 'string' || Number.isNaN(Date.parse(${v}))) errors.push('${f}: an ISO 8601 date');`;
    case 'bool':
      return `${skip} else if (typeof ${v} !== 'boolean') errors.push('${f}: true or false');`;
    default: {
      const values = kind.slice(5).split('|');
      return `${skip} else if (!${JSON.stringify(values)}.includes(${v})) errors.push('${f}: one of ${values.join(', ')}');`;
    }
  }
}

function seed(f: string, kind: FieldKind, i: number): string {
  switch (kind) {
    case 'string':
      return `${f}: '${f}-' + (id * ${31 + i}).toString(36)`;
    case 'int':
      return `${f}: (id * ${97 + i * 13}) % ${1000 + i * 7}`;
    case 'money':
      return `${f}: 100 + ((id * ${7919 + i}) % 250000)`;
    case 'email':
      return `${f}: '${f.toLowerCase()}' + id + '@example.com'`;
    case 'date':
      return `${f}: new Date(Date.UTC(2024, (id + ${i}) % 12, (id % 27) + 1)).toISOString()`;
    case 'bool':
      return `${f}: (id + ${i}) % ${2 + (i % 3)} === 0`;
    default: {
      const values = kind.slice(5).split('|');
      return `${f}: ${JSON.stringify(values)}[(id + ${i}) % ${values.length}]`;
    }
  }
}

function filter(f: string, kind: FieldKind): string {
  const q = `query.${f}`;
  switch (kind) {
    case 'int':
    case 'money':
      return `if (${q} !== undefined) { const n = Number(${q}); if (!Number.isFinite(n)) throw new ResourceError(400, '${f} must be a number'); items = items.filter((x) => x.${f} >= n); }`;
    case 'bool':
      return `if (${q} !== undefined) { const b = ${q} === 'true'; items = items.filter((x) => x.${f} === b); }`;
    case 'date':
      return `if (${q} !== undefined) { const t = Date.parse(${q}); if (Number.isNaN(t)) throw new ResourceError(400, '${f} must be a date'); items = items.filter((x) => Date.parse(x.${f}) >= t); }`;
    default:
      return `if (${q} !== undefined) { const s = String(${q}).toLowerCase(); items = items.filter((x) => String(x.${f}).toLowerCase().includes(s)); }`;
  }
}

/** One resource module: validation, seeding, filtering and CRUD routes, with field-specific code (as an API generator would emit). */
function resourceModule(name: string, fields: Array<[string, FieldKind]>): string {
  const Cap = name[0]!.toUpperCase() + name.slice(1);
  const names = fields.map(([f]) => f);
  return `
class ResourceError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
const ${name}Fields = ${JSON.stringify(names)};
const ${name}Store = new Map();
const ${name}Count = 200;
function seed${Cap}(id) {
  return { id, ${fields.map(([f, k], i) => seed(f, k, i)).join(', ')} };
}
function get${Cap}(id) {
  if (${name}Store.has(id)) return ${name}Store.get(id);
  return id >= 1 && id <= ${name}Count ? seed${Cap}(id) : undefined;
}
export function validate${Cap}(input, partial) {
  const errors = [];
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return ['body must be a JSON object'];
  for (const key of Object.keys(input)) if (key !== 'id' && !${name}Fields.includes(key)) errors.push('unknown field ' + key);
  ${fields.map(([f, k]) => check(f, k)).join('\n  ')}
  return errors;
}
function list${Cap}(query) {
  let items = [];
  for (let id = 1; id <= ${name}Count; id++) items.push(get${Cap}(id));
  ${fields.map(([f, k]) => filter(f, k)).join('\n  ')}
  const sort = query.sort;
  if (sort !== undefined) {
    const key = sort.replace(/^-/, '');
    if (key !== 'id' && !${name}Fields.includes(key)) throw new ResourceError(400, 'cannot sort ${name} by ' + key);
    const dir = sort.startsWith('-') ? -1 : 1;
    items.sort((a, b) => (a[key] < b[key] ? -dir : a[key] > b[key] ? dir : 0));
  }
  const page = Math.max(1, Number(query.page ?? 1) | 0);
  const perPage = Math.min(100, Math.max(1, Number(query.perPage ?? 20) | 0));
  return { items: items.slice((page - 1) * perPage, page * perPage), total: items.length, page, perPage };
}
function ${name}Id(c) {
  const id = Number(c.req.param('id'));
  if (!Number.isInteger(id) || id < 1) throw new ResourceError(400, 'id must be a positive integer');
  return id;
}
function ${name}Fail(c, err) {
  if (err instanceof ResourceError) return c.json({ error: err.message, resource: '${name}' }, err.status);
  throw err;
}
export function mount${Cap}(app) {
  app.get('/api/v1/${name}', (c) => { try { return c.json(list${Cap}(c.req.query())); } catch (err) { return ${name}Fail(c, err); } });
  app.get('/api/v1/${name}/:id', (c) => {
    try {
      const item = get${Cap}(${name}Id(c));
      return item === undefined ? c.json({ error: 'no such ${name.replace(/s$/, '')}' }, 404) : c.json(item);
    } catch (err) { return ${name}Fail(c, err); }
  });
  app.post('/api/v1/${name}', async (c) => {
    const input = await c.req.json().catch(() => null);
    const errors = validate${Cap}(input, false);
    if (errors.length > 0) return c.json({ errors }, 422);
    const id = ${name}Count + ${name}Store.size + 1;
    const item = { id, ${names.map((f) => `${f}: input.${f}`).join(', ')} };
    ${name}Store.set(id, item);
    return c.json(item, 201, { location: '/api/v1/${name}/' + id });
  });
  app.patch('/api/v1/${name}/:id', async (c) => {
    try {
      const id = ${name}Id(c);
      const current = get${Cap}(id);
      if (current === undefined) return c.json({ error: 'no such ${name.replace(/s$/, '')}' }, 404);
      const input = await c.req.json().catch(() => null);
      const errors = validate${Cap}(input, true);
      if (errors.length > 0) return c.json({ errors }, 422);
      const next = { ...current, ...input, id };
      ${name}Store.set(id, next);
      return c.json(next);
    } catch (err) { return ${name}Fail(c, err); }
  });
  app.delete('/api/v1/${name}/:id', (c) => {
    try {
      const id = ${name}Id(c);
      if (get${Cap}(id) === undefined) return c.json({ error: 'no such ${name.replace(/s$/, '')}' }, 404);
      ${name}Store.delete(id);
      return c.body(null, 204);
    } catch (err) { return ${name}Fail(c, err); }
  });
}
`;
}

const APP = fileURLToPath(new URL('../fixtures/hono-app/app.ts', import.meta.url));
const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

async function bundle(dir: string, resources: number): Promise<string> {
  const used = RESOURCES.slice(0, resources);
  const imports: string[] = [`import { app } from ${JSON.stringify(APP)};`];
  for (const [name, fields] of used) {
    writeFileSync(join(dir, `${name}.js`), resourceModule(name, fields));
    const Cap = name[0]!.toUpperCase() + name.slice(1);
    imports.push(`import { mount${Cap} } from './${name}.js';`, `mount${Cap}(app);`);
  }
  writeFileSync(join(dir, 'entry.js'), `${imports.join('\n')}\nexport default app;\n`);
  const r = await build({ entryPoints: [join(dir, 'entry.js')], bundle: true, write: false, format: 'esm', platform: 'neutral', target: 'es2023', mainFields: ['module', 'main'], nodePaths: [NODE_MODULES], logLevel: 'silent' });
  return r.outputFiles[0]!.text;
}

/** Build both workers into a fresh temp dir; the Hono app gets resource modules until it reaches `targetBytes`. */
export async function buildWorkers(targetBytes = 100 * 1024): Promise<BuiltWorkers> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefn-bench-workers-'));
  try {
    let n = 0;
    let hono = await bundle(dir, n);
    while (Buffer.byteLength(hono) < targetBytes && n < RESOURCES.length) hono = await bundle(dir, ++n);
    const helloPath = join(dir, 'hello.mjs');
    const honoPath = join(dir, 'hono.mjs');
    writeFileSync(helloPath, HELLO_MODULE);
    writeFileSync(honoPath, hono);
    return {
      dir,
      hello: { module: HELLO_MODULE, script: await asScript(HELLO_MODULE), modulePath: helloPath, bytes: Buffer.byteLength(HELLO_MODULE) },
      hono: { module: hono, script: await asScript(hono), modulePath: honoPath, bytes: Buffer.byteLength(hono) },
      honoResources: n,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
