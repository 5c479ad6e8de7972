// nodejs_compat in the runtime, in-process: the built-in modules a worker
// imports are bundled into it, behave as Node's do (results compared with this
// very Node process), AsyncLocalStorage follows a request across awaits,
// timers and microtasks, and a worker without the flag is refused the imports.

import { createHash as nodeHash, createHmac as nodeHmac } from 'node:crypto';
import { inspect as nodeInspect, format as nodeFormat } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, EdgefnError, prepareModules, prepareScript, Runtime, type FunctionSource } from '../../../runtime/index.ts';

const runtimes: Runtime[] = [];
afterEach(() => {
  for (const r of runtimes.splice(0)) r.destroy();
});

interface Worker {
  rt: Runtime;
  fn: FunctionSource;
  /** The function's log lines, for failure messages. */
  logs: string[];
}

async function start(source: string, flags: string[] = ['nodejs_compat'], env: Record<string, string> = {}): Promise<Worker> {
  const p = await prepareScript(source, 'module', 'worker.js', flags);
  // A roomy CPU budget: these tests are about results, and a cold start on a loaded 2-core machine can pass the default.
  const fn: FunctionSource = { name: 'w', version: 1, format: 'module', code: p.code, env, limits: { ...DEFAULT_LIMITS, cpuMs: 5000, wallMs: 30_000 }, compatibilityFlags: flags };
  const logs: string[] = [];
  const rt = await Runtime.create({ source: () => fn, poolSize: 1, log: (_fn, level, message) => logs.push(`${level}: ${message}`) });
  runtimes.push(rt);
  return { rt, fn, logs };
}

function call(w: Worker, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    w.rt.handle('w', 1, { method: 'GET', url: `http://w.localhost${path}`, headers: ['host', 'w.localhost'], body: null }, {
      head: (status, _h, body) => resolve({ status, body: body instanceof Uint8Array ? new TextDecoder().decode(body) : String(body) }),
      chunk() {},
      end() {},
      fail: (err) => reject(new Error(`${err.code}: ${err.message}\n${w.logs.join('\n')}`)),
    });
  });
}

async function json(w: Worker, path = '/'): Promise<Record<string, unknown>> {
  const r = await call(w, path);
  expect(r.status, r.body).toBe(200);
  return JSON.parse(r.body) as Record<string, unknown>;
}

describe('Node.js built-in modules with nodejs_compat', () => {
  it('node:buffer: base64, concat, readUInt32BE, hex, and the Buffer global is the same class', async () => {
    const w = await start(`
      import { Buffer } from 'node:buffer';
      import * as bare from 'buffer';
      export default { fetch() {
        const b = Buffer.concat([Buffer.from('AAEC', 'base64'), Buffer.from([3, 0xff])]);
        return Response.json({
          text: Buffer.from('aGVsbG8gd29ybGQ=', 'base64').toString('utf8'),
          u32: b.readUInt32BE(0), hex: b.toString('hex'), len: b.length,
          b64url: Buffer.from([0xfb, 0xff, 0xfe]).toString('base64url'), fromUrl: Array.from(Buffer.from('-_-_', 'base64url')),
          same: globalThis.Buffer === Buffer && bare.Buffer === Buffer,
          isU8: b instanceof Uint8Array,
        });
      } }`);
    expect(await json(w)).toEqual({ text: 'hello world', u32: 0x00010203, hex: '00010203ff', len: 5, b64url: Buffer.from([0xfb, 0xff, 0xfe]).toString('base64url'), fromUrl: Array.from(Buffer.from('-_-_', 'base64url')), same: true, isU8: true });
  });

  it('node:events, node:util, node:path, node:url and node:string_decoder give what Node gives', async () => {
    const w = await start(`
      import { EventEmitter, once } from 'node:events';
      import util, { promisify, inspect, format } from 'node:util';
      import path from 'path';
      import { fileURLToPath, pathToFileURL } from 'node:url';
      import { StringDecoder } from 'node:string_decoder';
      export default { async fetch() {
        const e = new EventEmitter();
        const seen = [];
        e.on('data', (x) => seen.push(x));
        e.once('data', (x) => seen.push('once:' + x));
        e.emit('data', 1); e.emit('data', 2);
        const later = once(e, 'ready');
        e.emit('ready', 'r');
        const d = new StringDecoder('utf8');
        const euro = [0xe2, 0x82, 0xac];
        return Response.json({
          seen, ready: await later, listeners: e.listenerCount('data'),
          promisified: await promisify((a, b, cb) => cb(null, a + b))(2, 3),
          rejected: await promisify((cb) => cb(new Error('no')))().catch((err) => err.message),
          inspect: inspect({ a: [1, 'x'], b: { c: null } }), format: format('%s is %d (%j)', 'n', 42, { k: 1 }),
          inherits: typeof util.inherits,
          types: [util.types.isUint8Array(new Uint8Array(1)), util.types.isUint8Array([]), util.types.isTypedArray(new Float64Array(1)), util.types.isTypedArray({ [Symbol.toStringTag]: 'Uint8Array' }), util.types.isGeneratorFunction(function* () {}), util.types.isGeneratorFunction(() => {}), (function () { return util.types.isArgumentsObject(arguments); })(), util.types.isArgumentsObject([])],
          join: path.join('/a/b', '../c', 'd.txt'), ext: path.extname('x/y.tar.gz'), rel: path.relative('/a/b/c', '/a/d'), posix: path.posix.sep,
          file: fileURLToPath('file:///tmp/a%20b.txt'), url: pathToFileURL('/tmp/x y').href,
          decoded: d.write(Buffer.from(euro.slice(0, 2))) + '|' + d.write(Buffer.from(euro.slice(2))),
        });
      } }`);
    expect(await json(w)).toEqual({
      seen: [1, 'once:1', 2], ready: ['r'], listeners: 1,
      promisified: 5, rejected: 'no',
      inspect: nodeInspect({ a: [1, 'x'], b: { c: null } }), format: nodeFormat('%s is %d (%j)', 'n', 42, { k: 1 }),
      inherits: 'function',
      types: [true, false, true, false, true, false, true, false],
      join: '/a/c/d.txt', ext: '.gz', rel: '../../d', posix: '/',
      file: '/tmp/a b.txt', url: 'file:///tmp/x%20y',
      decoded: '|€',
    });
  });

  it('node:crypto: createHash and createHmac digests equal Node\'s and the known vectors; random bytes, UUIDs, timingSafeEqual', async () => {
    const w = await start(`
      import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual, getHashes } from 'node:crypto';
      export default { fetch() {
        let unknown;
        try { createHash('nope'); } catch (err) { unknown = err.message; }
        let unequal;
        try { timingSafeEqual(Buffer.from('a'), Buffer.from('ab')); } catch (err) { unequal = err.name; }
        return Response.json({
          sha256: createHash('sha256').update('ab').update(new TextEncoder().encode('c')).digest('hex'),
          sha1: createHash('sha1').update('abc').digest('hex'),
          md5: createHash('md5').digest('hex'),
          sha512b64: createHash('sha512').update('edgefn').digest('base64'),
          hmac: createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'),
          hmacBuf: Array.from(createHmac('sha1', Buffer.from([1, 2, 3])).update('x').digest().subarray(0, 4)),
          random: [randomBytes(16).length, randomBytes(70000).length, randomBytes(16).equals(randomBytes(16))],
          uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(randomUUID()),
          same: timingSafeEqual(Buffer.from('secret'), Buffer.from('secret')), differ: timingSafeEqual(Buffer.from('secret'), Buffer.from('secreT')),
          unequal, unknown, hasSha256: getHashes().includes('sha256'),
          // Over the host op's 1 MiB step: fed in several steps.
          big: createHash('sha256').update(new Uint8Array(3 * 1024 * 1024 + 5).fill(7)).update('tail').digest('hex'),
        });
      } }`);
    expect(await json(w)).toEqual({
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      sha1: 'a9993e364706816aba3e25717850c26c9cd0d89d',
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
      sha512b64: nodeHash('sha512').update('edgefn').digest('base64'),
      hmac: 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
      hmacBuf: Array.from(nodeHmac('sha1', Buffer.from([1, 2, 3])).update('x').digest().subarray(0, 4)),
      random: [16, 70000, false],
      uuid: true,
      same: true, differ: false,
      unequal: 'RangeError', unknown: 'Digest method not supported', hasSha256: true,
      big: nodeHash('sha256').update(new Uint8Array(3 * 1024 * 1024 + 5).fill(7)).update('tail').digest('hex'),
    });
  });

  it('node:stream and node:assert work', async () => {
    const w = await start(`
      import { Readable, Transform, pipeline } from 'node:stream';
      import assert from 'node:assert';
      export default { async fetch() {
        const upper = new Transform({ transform(chunk, _enc, cb) { cb(null, chunk.toString().toUpperCase()); } });
        const out = [];
        await new Promise((resolve, reject) => pipeline(Readable.from(['ab', 'cd']), upper, async function* (source) { for await (const c of source) out.push(c.toString()); }, (err) => (err ? reject(err) : resolve())));
        let failed;
        try { assert.deepStrictEqual({ a: 1 }, { a: 2 }); } catch (err) { failed = [err.name, err.code]; }
        assert.ok(true);
        return Response.json({ out: out.join(''), failed });
      } }`);
    expect(await json(w)).toEqual({ out: 'ABCD', failed: ['AssertionError', 'ERR_ASSERTION'] });
  });

  it('process: env holds the text bindings at the top level; nodejs_compat_do_not_populate_process_env leaves it empty', async () => {
    const src = `
      const atTop = process.env.GREETING ?? null;
      export default { fetch() {
        process.env.N = 5;
        return Response.json({ atTop, keys: Object.keys(process.env).sort(), n: process.env.N, platform: process.platform, tick: typeof process.nextTick });
      } }`;
    const w = await start(src, ['nodejs_compat'], { GREETING: 'hi', SECRET: 's' });
    expect(await json(w)).toEqual({ atTop: 'hi', keys: ['GREETING', 'N', 'SECRET'], n: '5', platform: 'linux', tick: 'function' });
    const off = await start(src, ['nodejs_compat', 'nodejs_compat_do_not_populate_process_env'], { GREETING: 'hi' });
    expect(await json(off)).toEqual({ atTop: null, keys: ['N'], n: '5', platform: 'linux', tick: 'function' });
  });
});

describe('require() of the built-ins, for CommonJS code', () => {
  it("gives what Node's require gives, directly and through the __require shim of a pre-bundled ESM worker", async () => {
    // What esbuild's ESM output carries for a CommonJS dependency's require('events').
    const shim = `var __require = ((x) => typeof require !== "undefined" ? require : typeof Proxy !== "undefined" ? new Proxy(x, { get: (a, b) => (typeof require !== "undefined" ? require : a)[b] }) : x)(function(x) { if (typeof require !== "undefined") return require.apply(this, arguments); throw Error('Dynamic require of "' + x + '" is not supported'); });`;
    const w = await start(`${shim}
      const EE = __require('events');
      const { format } = require('node:util');
      const path = require('path');
      export default { fetch() {
        let missing;
        try { require('fs'); } catch (err) { missing = err.message; }
        const e = new EE();
        let got; e.on('x', (v) => (got = v)); e.emit('x', 7);
        return Response.json({ ee: typeof EE, sameClass: EE === EE.EventEmitter, got, format: format('%d-%s', 1, 'a'), join: path.join('a', 'b'), buffer: typeof require('buffer').Buffer.from, missing });
      } }`);
    const body = await json(w);
    expect(body).toMatchObject({ ee: 'function', sameClass: true, got: 7, format: '1-a', join: 'a/b', buffer: 'function' });
    expect(body['missing']).toMatch(/^Cannot find module 'fs': only the Node.js built-ins nodejs_compat provides can be required/);
  });

  it('leaves a worker that declares its own require alone', async () => {
    const w = await start(`const require = (id) => 'mine:' + id; export default { fetch() { return new Response(require('events')); } }`);
    expect((await call(w)).body).toBe('mine:events');
  });
});

describe('the platform hand-over', () => {
  it('leaves nothing on the global scope: the hidden global is taken before the worker runs, and no __ names remain', async () => {
    const w = await start(`
      const atTop = typeof globalThis.__edgefn_node;
      export default { fetch() {
        return Response.json({ atTop, now: typeof globalThis.__edgefn_node, own: Object.getOwnPropertyNames(globalThis).filter((n) => n.startsWith('__')), buffer: typeof Buffer });
      } }`);
    expect(await json(w)).toEqual({ atTop: 'undefined', now: 'undefined', own: [], buffer: 'function' });
  });
});

describe('AsyncLocalStorage', () => {
  const ALS = `import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
    const als = new AsyncLocalStorage();
    const other = new AsyncLocalStorage();
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));`;

  it('keeps the store across awaits, timers, queueMicrotask and then-callbacks, and drops it outside run', async () => {
    const w = await start(`${ALS}
      async function deep() { await null; await sleep(1); return als.getStore(); }
      export default { async fetch() {
        const seen = await als.run('s1', async () => {
          const a = als.getStore();
          await Promise.resolve();
          const b = als.getStore();
          await sleep(5);
          const c = als.getStore();
          const d = await new Promise((r) => setTimeout(() => r(als.getStore()), 2));
          const e = await new Promise((r) => queueMicrotask(() => r(als.getStore())));
          const f = await Promise.resolve().then(() => als.getStore());
          const g = await deep();
          const h = await Promise.reject(new Error('x')).catch(() => als.getStore());
          const i = await Promise.resolve().finally(() => {}).then(() => als.getStore());
          let j; for await (const x of (async function* () { yield 1; await sleep(1); yield 2; })()) j = als.getStore();
          return [a, b, c, d, e, f, g, h, i, j];
        });
        return Response.json({ seen, after: als.getStore() ?? null });
      } }`);
    expect(await json(w)).toEqual({ seen: ['s1', 's1', 's1', 's1', 's1', 's1', 's1', 's1', 's1', 's1'], after: null });
  });

  it('keeps concurrent requests to one isolate apart, with nested runs, exit and a second storage', async () => {
    const w = await start(`${ALS}
      export default { async fetch(req) {
        const id = new URL(req.url).searchParams.get('id');
        const ms = Number(new URL(req.url).searchParams.get('ms'));
        return als.run(id, async () => {
          await sleep(ms);
          const outer = als.getStore();
          const nested = await als.run(id + '-inner', async () => { await sleep(1); return als.getStore(); });
          const exited = await als.exit(async () => { await null; return als.getStore() ?? null; });
          const both = await other.run('o', async () => { await null; return [als.getStore(), other.getStore()]; });
          await sleep(ms);
          return Response.json({ outer, nested, exited, both, last: als.getStore(), otherAfter: other.getStore() ?? null });
        });
      } }`);
    // The first request sleeps longest, so the second's continuations run in between.
    const [a, b, c] = await Promise.all([json(w, '/?id=a&ms=40'), json(w, '/?id=b&ms=5'), json(w, '/?id=c&ms=20')]);
    for (const [r, id] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) {
      expect(r).toEqual({ outer: id, nested: `${id}-inner`, exited: null, both: [id, 'o'], last: id, otherAfter: null });
    }
  });

  it('binds with AsyncLocalStorage.bind, snapshot and AsyncResource', async () => {
    const w = await start(`${ALS}
      export default { async fetch() {
        const [bound, snap, resource] = als.run('x', () => [AsyncLocalStorage.bind(() => als.getStore()), AsyncLocalStorage.snapshot(), new AsyncResource('t')]);
        return Response.json({ bound: bound(), snap: snap(() => als.getStore()), res: resource.runInAsyncScope(() => als.getStore()), outside: als.getStore() ?? null });
      } }`);
    expect(await json(w)).toEqual({ bound: 'x', snap: 'x', res: 'x', outside: null });
  });
});

describe('without nodejs_compat', () => {
  it('refuses node: imports at deploy with an error naming the flag, for one script and for a module set', async () => {
    const err = await prepareScript(`import { Buffer } from 'node:buffer'; export default { fetch() { return new Response(Buffer.from('x')); } }`, 'module').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgefnError);
    expect((err as EdgefnError).code).toBe('ERR_SCRIPT_COMPILE');
    expect((err as EdgefnError).message).toMatch(/cannot resolve "node:buffer".*"nodejs_compat" compatibility flag/);
    const set = await prepareModules({ main: 'index.js', modules: [{ name: 'index.js', type: 'esm', content: `import { EventEmitter } from 'node:events'; export default { fetch() { return new Response(typeof EventEmitter); } }` }] }).catch((e: unknown) => e);
    expect((set as EdgefnError).message).toMatch(/cannot resolve "node:events" imported by "index.js".*"nodejs_compat"/);
  });

  it('with the flag, refuses a Node module it does not provide by name, listing those it does', async () => {
    const err = await prepareScript(`import fs from 'node:fs'; export default { fetch() { return new Response(typeof fs); } }`, 'module', 'w.js', ['nodejs_compat']).catch((e: unknown) => e);
    expect((err as EdgefnError).message).toMatch(/"node:fs".*not among the Node.js modules nodejs_compat provides \(node:assert, node:async_hooks, node:buffer/);
  });

  it('keeps the isolate lean: no Buffer or process globals, no wrapped then, and no Node code in the bundle', async () => {
    const src = `export default { fetch() { return Response.json({ buffer: typeof Buffer, process: typeof process, then: Promise.prototype.then.toString().includes('native code') }); } }`;
    const w = await start(src, []);
    expect(await json(w)).toEqual({ buffer: 'undefined', process: 'undefined', then: true });
    expect(w.fn.code.length).toBeLessThan(2000);
  });

  it('lowers async code only for workers whose bundle contains node:async_hooks', async () => {
    const src = (imp: string) => `${imp} export default { async fetch() { await null; return new Response('ok'); } }`;
    const plain = await prepareScript(src(`import { Buffer } from 'node:buffer';`), 'module', 'w.js', ['nodejs_compat']);
    const als = await prepareScript(src(`import { AsyncLocalStorage } from 'node:async_hooks';`), 'module', 'w.js', ['nodejs_compat']);
    expect(plain.code).toMatch(/async fetch\(\)/);
    expect(als.code).not.toMatch(/async fetch\(\)/);
    expect(als.code).toMatch(/__async\(/);
  });
});
