// Property-based fuzzing of a real node with fast-check, from a fixed seed:
// random control-API requests (names, deploy bodies, limits, vars, module
// sets, deletes) and random response heads produced by a worker. The node
// must answer every one in the protocol it promises (2xx or a 4xx JSON error
// from the control API; a valid response or a 500 `edgefn-error` from the
// data plane), never crash or hang, and its function list must end up being
// exactly what it acknowledged.
//
// Each property stops after PROPERTY_MS even if its runs are not done
// (fast-check's interruptAfterTimeLimit), so the file stays bounded on a
// loaded 2-core machine; the runs it did make are all checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Client } from 'undici';
import { startNode, type StartedNode } from '../helpers/node.ts';

const SEED = 1101;
const PROPERTY_MS = 20_000;

let node: StartedNode;
beforeAll(async () => {
  // Short start-up budget: a generated top-level infinite loop costs 100 ms, not 1 s.
  node = await startNode({ env: { EDGEFN_STARTUP_CPU_MS: '100', EDGEFN_HOSTS: '2' } });
});
afterAll(async () => {
  expect(node.child.exitCode).toBeNull();
  await node.close();
});

const HANDLER = `export default { fetch() { return new Response('ok') } }`;

/** Scripts that deploy, and every way one could fail to. */
const script = fc.oneof(
  { weight: 4, arbitrary: fc.constant(HANDLER) },
  fc.constantFrom(
    `addEventListener('fetch', (e) => e.respondWith(new Response('sw')))`,
    `export default {`,
    `throw new Error('top level')`,
    `export default {}`,
    `export default { fetch: 42 }`,
    `for (;;) {}\nexport default { fetch() {} }`,
    `await new Promise(() => {});\nexport default { fetch() { return new Response('x') } }`,
    `const a = []; for (;;) a.push(new Array(1e6).fill(1));\nexport default { fetch() {} }`,
    `import x from 'nowhere';\nexport default { fetch() { return new Response(x) } }`,
    `import fs from 'node:fs';\nexport default { fetch() { return new Response('fs') } }`,
    `export default { fetch() { return new Response('ok') } }; Object.prototype.polluted = 1;`,
    `export default { fetch() { return new Response('ok') } }; throw 42;`,
    `Promise.reject(new Error('unhandled')); export default { fetch() { return new Response('ok') } }`,
    '   ',
    '\u0000',
  ),
  fc.string({ maxLength: 200 }),
);

const jsonValue = fc.jsonValue({ maxDepth: 3 });

const limits = fc.oneof(
  fc.record({ cpuMs: fc.integer({ min: 1, max: 1000 }), memoryMb: fc.integer({ min: 16, max: 256 }), wallMs: fc.integer({ min: 100, max: 60_000 }) }, { requiredKeys: [] }),
  fc.dictionary(fc.constantFrom('cpuMs', 'memoryMb', 'wallMs', 'heapMb', '__proto__', 'constructor'), fc.oneof(fc.double(), fc.integer(), fc.string(), jsonValue), { maxKeys: 3 }),
  jsonValue,
);

const bindingName = fc.oneof(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'toString', ''));
const vars = fc.oneof(fc.dictionary(bindingName, fc.oneof({ weight: 4, arbitrary: fc.string({ maxLength: 40 }) }, jsonValue), { maxKeys: 4 }), jsonValue);

const moduleEntry = fc.record(
  {
    name: fc.oneof(fc.constantFrom('index.js', 'lib.js', 'data.json', 'x.wasm', '../up.js', '/abs.js', 'a/b.js', 'index.js'), fc.string({ maxLength: 20 })),
    type: fc.oneof(fc.constantFrom('esm', 'wasm', 'text', 'data', 'json'), fc.string({ maxLength: 6 })),
    content: fc.oneof(fc.constantFrom(HANDLER, `export const x = 1`, `{"a":1}`, 'AGFzbQEAAAA=', 'not base64!', `import { x } from './lib.js'; ${HANDLER}`), fc.string({ maxLength: 60 })),
  },
  { requiredKeys: [] },
);
const modules = fc.oneof(fc.array(moduleEntry, { maxLength: 4 }), jsonValue);

const deployBody = fc.oneof(
  { weight: 6, arbitrary: fc.record({ script, format: fc.constantFrom('module', 'service-worker', 'commonjs'), vars, secrets: vars, limits, regions: fc.oneof(fc.constant(['local']), jsonValue) }, { requiredKeys: ['script'] }) },
  { weight: 2, arbitrary: fc.record({ modules, main: fc.oneof(fc.constantFrom('index.js', 'lib.js'), jsonValue), vars, limits }, { requiredKeys: ['modules'] }) },
  { weight: 1, arbitrary: fc.record({ script, modules, main: jsonValue, extra: jsonValue }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: jsonValue },
);

/** A handful of names, so that runs redeploy and delete each other's functions; and names that are not names. */
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('fz-a', 'fz-b', 'fz-c', 'fz-d', 'z', 'a-1') },
  fc.string({ minLength: 0, maxLength: 70 }),
  fc.constantFrom('..', '.', 'UPPER', 'x'.repeat(64), 'a%2fb', '%00', 'a\u0000b', 'ü'),
);

type Op = { op: 'put'; name: string; body: unknown; raw?: string } | { op: 'delete'; name: string } | { op: 'get'; name: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), name, body: deployBody }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('put' as const), name, body: fc.constant(null), raw: fc.string({ maxLength: 100 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), name }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('get' as const), name }) },
);

describe('control API under random requests', () => {
  it('answers every request 2xx or 4xx with a JSON error, and lists exactly what it acknowledged', async () => {
    /** What the node acknowledged: name → version. */
    const model = new Map<string, number>();
    let runs = 0;
    let acknowledged = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 4 }), async (ops) => {
        runs++;
        for (const o of ops) {
          const path = `/v1/functions/${encodeURIComponent(o.name)}`;
          const init: RequestInit =
            o.op === 'put'
              ? { method: 'PUT', headers: { 'content-type': 'application/json' }, body: o.raw ?? JSON.stringify(o.body) }
              : { method: o.op === 'delete' ? 'DELETE' : 'GET' };
          const res = await node.api(path, init);
          const text = await res.text();
          // Never a 5xx: a bad request is the client's fault, and nothing here is the node's.
          expect(res.status, `${o.op} ${path} ${String(init.body ?? '').slice(0, 300)} → ${text}`).toBeLessThan(500);
          expect(res.headers.get('content-type')).toMatch(/^application\/json/);
          const json = JSON.parse(text) as { error?: { code: unknown; message: unknown }; version?: number; deleted?: string };
          if (res.status >= 400) {
            expect(json.error?.code).toMatch(/^ERR_[A-Z_]+$/);
            expect(typeof json.error?.message).toBe('string');
            if (o.op === 'delete' && res.status === 404) model.delete(o.name);
            continue;
          }
          if (o.op === 'put') {
            acknowledged++;
            const prev = model.get(o.name);
            expect(json.version).toBe(prev === undefined ? json.version : prev + 1);
            expect(res.status).toBe(prev === undefined ? 201 : 200);
            model.set(o.name, json.version!);
          } else if (o.op === 'delete') {
            expect(model.has(o.name)).toBe(true);
            model.delete(o.name);
          } else {
            expect(json.version).toBe(model.get(o.name));
          }
        }
      }),
      { seed: SEED, numRuns: 300, interruptAfterTimeLimit: PROPERTY_MS },
    );
    const listed = ((await (await node.api('/v1/functions')).json()) as { functions: Array<{ name: string; version: number }> }).functions;
    expect(Object.fromEntries(listed.map((f) => [f.name, f.version]))).toEqual(Object.fromEntries(model));
    // The run did reach the deploy path, not only the validator's refusals.
    expect(runs).toBeGreaterThan(10);
    expect(acknowledged).toBeGreaterThan(0);
    // What the node acknowledged still runs.
    for (const [n] of model) expect((await node.call(n)).status).toBeLessThan(600);
  }, 120_000);
});

/**
 * The worker builds its response from the JSON it is sent; a bad status or
 * header throws in it (500 exception) or is refused at the isolate boundary
 * (500 bad-response), and whatever gets past both must still go out as
 * valid HTTP.
 */
const HEAD_WORKER = `export default {
  async fetch(request) {
    const spec = await request.json();
    const init = { headers: spec.headers };
    if (spec.status !== undefined) init.status = spec.status;
    if (spec.statusText !== undefined) init.statusText = spec.statusText;
    return new Response(spec.body ?? null, init);
  },
}`;

const headerName = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/) },
  fc.constantFrom('content-length', 'transfer-encoding', 'connection', 'set-cookie', 'content-type', 'server-timing', 'edgefn-error', 'keep-alive', 'upgrade', 'trailer', 'date', 'host', 'location'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const headerValue = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  fc.constantFrom('0', '-1', '99999999999', 'chunked', 'close', 'a\r\nInjected: 1', 'a\nb', '\u0000', ' padded ', 'é', '\u2028', 'x'.repeat(20_000)),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const headSpec = fc.record(
  {
    status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer({ min: -1000, max: 2000 }), fc.constantFrom(0, 101, 204, 205, 304, 1.5, NaN), fc.string({ maxLength: 4 })),
    statusText: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('OK\r\nX: y', '\u0000', 'é', 'x'.repeat(5000))),
    headers: fc.oneof(fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }), fc.dictionary(headerName, headerValue, { maxKeys: 6 })),
    body: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 50 })),
  },
  { requiredKeys: ['headers'] },
);

describe('worker-produced response heads', () => {
  it('answers every random head with a valid response or a 500 edgefn-error, never a crash or a hang', async () => {
    expect((await node.deploy('heads', { script: HEAD_WORKER, limits: { cpuMs: 2000 } })).status).toBe(201);
    // undici parses strictly (llhttp): a response it accepts is valid HTTP/1.1.
    // A 20 KB header value is valid HTTP, only larger than undici's default 16 KB head.
    const client = new Client(node.dataUrl, { headersTimeout: 15_000, bodyTimeout: 15_000, pipelining: 0, maxHeaderSize: 1024 * 1024 });
    let runs = 0;
    try {
      await fc.assert(
        fc.asyncProperty(headSpec, async (spec) => {
          runs++;
          const payload = JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v));
          const res = await client.request({ path: '/', method: 'POST', headers: { host: 'heads.localhost', 'content-type': 'application/json' }, body: payload });
          const body = await res.body.text();
          const error = res.headers['edgefn-error'];
          if (error !== undefined) {
            expect(res.statusCode, payload).toBe(500);
            expect(['exception', 'bad-response']).toContain(error);
            return;
          }
          expect(res.statusCode, payload).toBeGreaterThanOrEqual(200);
          expect(res.statusCode, payload).toBeLessThan(600);
          expect(res.statusCode).toBe(typeof spec.status === 'number' ? spec.status : 200);
          // Framing is the node's: never a worker's Content-Length or Transfer-Encoding.
          if (res.headers['content-length'] !== undefined) expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(body));
          for (const k of Object.keys(res.headers)) expect(k).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/);
        }),
        { seed: SEED, numRuns: 400, interruptAfterTimeLimit: PROPERTY_MS },
      );
    } finally {
      await client.close();
    }
    expect(runs).toBeGreaterThan(20);
    // The function and the node are fine afterwards.
    const after = await node.call('heads', '/', { method: 'POST', body: JSON.stringify({ headers: [['x-ok', '1']], body: 'fine' }) });
    expect(after.status).toBe(200);
    expect(await after.text()).toBe('fine');
  }, 120_000);
});

describe('what the fuzzer found', () => {
  it('never sends a worker Content-Length on a response without a body, except in answer to HEAD', async () => {
    // Found by the response-head property: `new Response(null, { headers: { 'content-length': '' } })`
    // went out as an empty Content-Length (invalid), and '100' as a length with
    // no bytes behind it, on which the client waited for ever.
    expect((await node.deploy('cl', { script: `export default { fetch(req) { return new Response(null, { headers: { 'content-length': new URL(req.url).searchParams.get('cl') } }) } }`, limits: { cpuMs: 2000 } })).status).toBe(201);
    const client = new Client(node.dataUrl, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    try {
      for (const cl of ['', '100', '-1', '1e3', '5, 5']) {
        const res = await client.request({ path: `/?cl=${encodeURIComponent(cl)}`, method: 'GET', headers: { host: 'cl.localhost' } });
        expect(await res.body.text()).toBe('');
        expect(res.headers['content-length']).toBe('0');
      }
      const head = await client.request({ path: '/?cl=100', method: 'HEAD', headers: { host: 'cl.localhost' } });
      await head.body.text();
      expect(head.headers['content-length']).toBe('100');
    } finally {
      await client.close();
    }
  });
});
