// Hostile tenants that try to leave their isolate: reach the host's process,
// a host function or object, or another tenant's globals and env. Each worker
// records what it could reach from every place the platform hands it control
// (constructors, stack frames, species, proxy and getter traps, replaced
// `then`s) and the test asserts it reached nothing of the host's. The node
// runs ONE isolate host, so every tenant here shares a process; a neighbour
// under steady load must see no error meanwhile.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { callTimed, duringAttack, NEIGHBOUR_SCRIPT } from './neighbour.ts';

let node: StartedNode;
let origin: Server;
let originUrl = '';

// In-worker helpers: `leaks(values)` walks values two levels deep (own
// properties and prototypes) for the marks of an isolated-vm handle or a Node
// object; `nodeGlobals()` is what the worker's realm says about Node (the
// bundled worker has a `module` of its own in scope, so that one is looked up
// on the global).
const PROBE = `
const HOST_MARKS = ['applySync', 'applySyncPromise', 'derefInto', 'copyInto', 'getSync', 'setSync', 'release', 'mainModule', 'binding', 'dlopen'];
function leaks(values) {
  const found = [];
  const seen = new Set();
  const visit = (v, depth, path) => {
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v) || depth > 2) return;
    seen.add(v);
    let keys = [];
    try { keys = Reflect.ownKeys(v); } catch {}
    for (const k of keys) {
      if (HOST_MARKS.includes(String(k))) found.push(path + '.' + String(k));
      let d; try { d = Object.getOwnPropertyDescriptor(v, k); } catch {}
      if (d && 'value' in d) visit(d.value, depth + 1, path + '.' + String(k));
    }
    let p; try { p = Object.getPrototypeOf(v); } catch {}
    visit(p, depth + 1, path + '.__proto__');
  };
  values.forEach((v, i) => visit(v, 0, '#' + i));
  return found;
}
function nodeGlobals() {
  return [typeof process, typeof require, typeof Buffer, typeof global, typeof globalThis.module, typeof __edgefn_boot].join(',');
}
const NO_NODE = 'undefined,undefined,undefined,undefined,undefined,undefined';
`;

const mod = (body: string): string => `${PROBE}\nexport default { async fetch(request, env, ctx) {\n${body}\n} }`;

async function deploy(name: string, script: string, extra: Record<string, unknown> = {}): Promise<void> {
  // A CPU budget that a cold isolate's first fetch, digest and clone fit on a loaded machine.
  const res = await node.deploy(name, { script, limits: { cpuMs: 1000 }, ...extra });
  expect([200, 201], `${name}: ${JSON.stringify(res.json)}`).toContain(res.status);
}

/** Call `name` with the neighbour under load; its JSON answer. */
async function attack(name: string): Promise<Record<string, unknown>> {
  const { result: r, neighbour } = await duringAttack(node, name, () => callTimed(node, name));
  expect(neighbour.errors).toEqual([]);
  expect(r.status, `${r.error} ${r.body.slice(0, 500)}`).toBe(200);
  return JSON.parse(r.body) as Record<string, unknown>;
}

beforeAll(async () => {
  origin = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => res.end(`${req.method} ${body}`));
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  node = await startNode({ env: { EDGEFN_HOSTS: '1', EDGEFN_FETCH_ALLOW: '127.0.0.1' } });
  await deploy('neighbour', NEIGHBOUR_SCRIPT);
});
afterAll(async () => {
  await node.close();
  origin.closeAllConnections();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

describe('escape attempts', () => {
  it('finds no process through Function constructors reached from platform objects', async () => {
    await deploy(
      'ctor',
      mod(`const fns = [function () {}, fetch, console.log, setTimeout, Response, Headers, crypto.getRandomValues, crypto.subtle.digest, structuredClone, queueMicrotask, (async () => {})];
        const seen = fns.map((f) => { try { return f.constructor.constructor('return [typeof process, typeof require, this === globalThis].join()')(); } catch (e) { return 'threw ' + e.name; } });
        return Response.json({ seen, realm: nodeGlobals(), leaks: leaks([globalThis, ...fns]) });`),
    );
    const out = await attack('ctor');
    expect(new Set(out['seen'] as string[])).toEqual(new Set(['undefined,undefined,true']));
    expect(out['realm']).toBe('undefined,undefined,undefined,undefined,undefined,undefined');
    expect(out['leaks']).toEqual([]);
  });

  it('gets no host object from Error.prepareStackTrace frames, platform frames included', async () => {
    await deploy(
      'stack',
      mod(`const frames = [];
        Error.prepareStackTrace = (err, cs) => { for (const f of cs) { try { frames.push(f.getThis(), f.getFunction()); } catch {} } return 'stack of ' + cs.length; };
        const stacks = [];
        try { new Headers([['bad name', 'v']]); } catch (e) { stacks.push(e.stack); }
        try { await new Response('{').json(); } catch (e) { stacks.push(e.stack); }
        try { await new Response(new ReadableStream({ pull() { throw new Error('in pull'); } })).text(); } catch (e) { stacks.push(e.stack); }
        try { await fetch('http://[::1'); } catch (e) { stacks.push(e.stack); }
        await new Promise((r) => setTimeout(() => { try { null.x; } catch (e) { stacks.push(e.stack); } r(); }, 1));
        return Response.json({ stacks, frames: frames.filter((f) => f !== undefined).length, realm: nodeGlobals(), leaks: leaks(frames) });`),
    );
    const out = await attack('stack');
    expect((out['stacks'] as string[]).length).toBe(5);
    expect(out['realm']).toBe('undefined,undefined,undefined,undefined,undefined,undefined');
    expect(out['leaks']).toEqual([]);
  });

  it('gets no host object through Symbol.species getters and replaced constructors', async () => {
    await deploy(
      'species',
      mod(`const got = [];
        for (const C of [Promise, Array, Uint8Array, ArrayBuffer, RegExp, Map]) {
          Object.defineProperty(C, Symbol.species, { configurable: true, get() { got.push(this, ...arguments); return C; } });
        }
        Object.defineProperty(Promise.prototype, 'constructor', { configurable: true, get() { got.push(this); return Promise; } });
        const fetched = await (await fetch('${originUrl}/', { method: 'POST', body: 'species' })).text();
        const bytes = await new Response(new Uint8Array([1, 2, 3])).arrayBuffer();
        const cloned = structuredClone(new Map([[1, new Uint8Array([9])]]));
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([1])));
        return Response.json({ fetched, bytes: bytes.byteLength, cloned: cloned.get(1)[0], digest: digest.length, realm: nodeGlobals(), leaks: leaks(got) });`),
    );
    const out = await attack('species');
    expect(out).toMatchObject({ fetched: 'POST species', bytes: 3, cloned: 9, digest: 32, realm: 'undefined,undefined,undefined,undefined,undefined,undefined', leaks: [] });
  });

  it('runs proxy traps, getters, toJSON and valueOf only as tenant code, with no host object in reach', async () => {
    await deploy(
      'traps',
      mod(`const inTrap = [];
        const got = [];
        const note = (...a) => { inTrap.push(nodeGlobals()); got.push(...a); };
        const init = new Proxy({ method: 'POST', body: 'proxied', headers: { 'x-a': '1' } }, { get(t, k, r) { note(t, r); return Reflect.get(t, k, r); } });
        const fetched = await (await fetch('${originUrl}/', init)).text();
        const headers = new Headers(new Proxy({ 'x-b': '2' }, { ownKeys(t) { note(t); return Reflect.ownKeys(t); }, get(t, k, r) { note(t); return Reflect.get(t, k, r); } }));
        const json = await Response.json({ toJSON() { note(this); return { a: 1 }; } }).json();
        const status = new Response('x', { status: { valueOf() { note(this); return 201; } } }).status;
        await new Promise((r) => setTimeout(r, { valueOf() { note(this); return 1; } }));
        const getter = new Response('y', { get headers() { note(this); return { 'x-c': '3' }; } }).headers.get('x-c');
        return Response.json({ fetched, header: headers.get('x-b'), json, status, getter, inTrap: [...new Set(inTrap)], traps: inTrap.length, leaks: leaks(got) });`),
    );
    const out = await attack('traps');
    expect(out).toMatchObject({ fetched: 'POST proxied', header: '2', json: { a: 1 }, status: 201, getter: '3', leaks: [] });
    expect(out['inTrap']).toEqual(['undefined,undefined,undefined,undefined,undefined,undefined']);
    expect(out['traps']).toBeGreaterThan(5);
  });

  it("hands a replaced Promise.prototype.then and Object.prototype.then none of the platform's internals", async () => {
    await deploy(
      'thens',
      mod(`const got = [];
        const then = Promise.prototype.then;
        Promise.prototype.then = function (a, b) { got.push(this, a, b); return then.call(this, a, b); };
        Object.prototype.then = function (resolve, reject) { got.push(this, resolve, reject); };
        const out = {};
        // Watched through the original then, and finished with a string. A
        // promise the platform hands the worker that resolves with an object
        // (fetch's Response) consults the worker's Object.prototype.then, as
        // ECMAScript's promise resolution does in any engine (workerd too);
        // what is tested is that the platform's own promises never do: a
        // streamed body is read through chunk records and pull promises.
        out.text = await new Promise((done) => {
          const body = new ReadableStream({ pull(c) { c.enqueue(new TextEncoder().encode('ab')); c.enqueue(new TextEncoder().encode('c')); c.close(); } });
          then.call(new Response(body).text(), done, (e) => done('threw ' + e));
          setTimeout(() => done('never settled'), 2000);
        });
        delete Object.prototype.then;
        Promise.prototype.then = then;
        out.realm = nodeGlobals();
        out.leaks = leaks(got);
        out.calls = got.length;
        return Response.json(out);`),
    );
    const out = await attack('thens');
    expect(out).toMatchObject({ text: 'abc', realm: 'undefined,undefined,undefined,undefined,undefined,undefined', leaks: [] });
    // The worker's own awaits go through its then; the platform's do not need to.
    expect(out['calls']).toBeGreaterThan(0);
  });

  it("keeps one tenant's globals, prototypes and env from another on the same host", async () => {
    await deploy(
      'tenant-a',
      mod(`globalThis.stolen = env.SECRET; Object.prototype.polluted = 'by a'; Array.prototype.push = function () { return 'hijacked by a'; };
        globalThis.fetch = () => 'fetch of a'; Response.prototype.text = () => 'text of a';
        return new Response('a set its globals');`),
      { secrets: { SECRET: 'secret of a' } },
    );
    await deploy(
      'tenant-b',
      mod(`const arr = []; const pushed = arr.push(1);
        return Response.json({ stolen: typeof globalThis.stolen, polluted: ({}).polluted ?? null, pushed, fetch: typeof fetch('${originUrl}/').then,
          text: await new Response('b').text(), env: Object.keys(env), secretOfA: JSON.stringify(env).includes('secret of a') });`),
      { secrets: { SECRET: 'secret of b' } },
    );
    expect((await callTimed(node, 'tenant-a')).body).toBe('a set its globals');
    const out = await attack('tenant-b');
    expect(out).toEqual({ stolen: 'undefined', polluted: null, pushed: 1, fetch: 'function', text: 'b', env: ['SECRET'], secretOfA: false });
    // Both ran on the node's one isolate host.
    expect((await node.hosts()).filter((h) => h.state === 'ready')).toHaveLength(1);
  });
});
