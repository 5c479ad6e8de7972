// The platform modules left out of the snapshot (runtime/prelude.ts,
// LAZY_MODULES): an isolate evaluates one when its worker first touches one
// of its globals, through one 'lazy-module' host call, and never otherwise.

import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, prepareScript, Runtime } from '../../../runtime/index.ts';
import { buildPrelude, LAZY_MODULES } from '../../../runtime/prelude.ts';
import { callRuntime } from '../../helpers/runtime-call.ts';
import { LAZY_MODULE_OP } from '../../../runtime/webapi/entries.ts';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate | undefined;
afterEach(() => {
  iso?.dispose();
  iso = undefined;
});

const lazyLoads = (i: WebapiIsolate): unknown[] => i.syncCalls.filter((c) => c.op === LAZY_MODULE_OP).map((c) => c.payload);

describe('lazy platform modules', () => {
  it('are built apart from the prelude: none of their code is in the snapshot', async () => {
    const prelude = await buildPrelude();
    expect(Object.keys(prelude.lazy).sort()).toEqual(Object.keys(LAZY_MODULES).sort());
    // Strings only each module's code has (its error messages).
    const marks: Record<string, string> = {
      'html-rewriter': 'is no longer valid: it can only be used inside its handler',
      eventsource: 'EventSource',
      urlpattern: 'Duplicate name',
      'multi-byte': 'iso-2022-jp',
      websocket: 'neither the client end of a WebSocketPair',
      'message-events': "Failed to construct 'CloseEvent'",
      kv: 'KV put() accepts only strings',
      compression: 'deflate-raw',
    };
    for (const [name, mark] of Object.entries(marks)) {
      expect([name, prelude.lazy[name]!.includes(mark)]).toEqual([name, true]);
    }
    expect(prelude.code.includes('is no longer valid: it can only be used inside its handler')).toBe(false);
    expect(prelude.code.includes('Duplicate name')).toBe(false);
  });

  it('loads a module once, on the first touch of one of its globals, and not for a worker that never touches them', async () => {
    iso = await createWebapiIsolate();
    await iso.run(`new Response('x').headers.get('a'); new URL('https://a/b'); new TextDecoder().decode(new Uint8Array([104]));`);
    expect(lazyLoads(iso)).toEqual([]);
    // `in` looks at the property without reading it.
    expect(await iso.run(`return 'URLPattern' in globalThis && 'EventSource' in globalThis && 'caches' in globalThis`)).toBe(true);
    expect(lazyLoads(iso)).toEqual([]);
    const out = await iso.run<[boolean, string, boolean]>(`
      const m = new URLPattern({ pathname: '/users/:id' }).exec('https://a/users/42');
      const again = new URLPattern('/x/*', 'https://a').test('https://a/x/y');
      const d = Object.getOwnPropertyDescriptor(globalThis, 'URLPattern');
      return [again, m.pathname.groups.id, d.writable && d.configurable && !d.enumerable && typeof d.value === 'function' && d.value.name === 'URLPattern'];`);
    expect(out).toEqual([true, '42', true]);
    expect(lazyLoads(iso)).toEqual(['urlpattern']);
    expect(await iso.run(`return [typeof Cache, typeof CacheStorage, typeof caches.open, typeof HTMLRewriter, EventSource.CLOSED]`)).toEqual(['function', 'function', 'function', 'function', 2]);
    expect(lazyLoads(iso)).toEqual(['urlpattern', 'cache', 'html-rewriter', 'eventsource', 'message-events']);
    // EventSource took MessageEvent's module with it; WebSockets deliver the same classes.
    expect(await iso.run(`return new MessageEvent('message', { data: 1 }).data + new CloseEvent('close', { code: 1000 }).code`)).toBe(1001);
    expect(lazyLoads(iso)).toEqual(['urlpattern', 'cache', 'html-rewriter', 'eventsource', 'message-events']);
    expect(await iso.run(`const [a, b] = Object.values(new WebSocketPair()); return [a instanceof WebSocket, b.readyState]`)).toEqual([true, 1]);
    expect(lazyLoads(iso)).toEqual(['urlpattern', 'cache', 'html-rewriter', 'eventsource', 'message-events', 'websocket']);
    expect(await iso.run(`return new TextDecoder('shift_jis').decode(new Uint8Array([0x82, 0xa0, 0x41]))`)).toBe('あA');
    expect(await iso.run(`return new TextDecoder('gbk').decode(new Uint8Array([0xc4, 0xe3]))`)).toBe('你');
    expect(lazyLoads(iso)).toEqual(['urlpattern', 'cache', 'html-rewriter', 'eventsource', 'message-events', 'websocket', 'multi-byte']);
  });

  it("keeps what a worker assigned to a module's globals before the module loaded", async () => {
    iso = await createWebapiIsolate();
    const out = await iso.run(`
      globalThis.Cache = 'mine';
      Object.defineProperty(globalThis, 'CacheStorage', { value: 7, writable: false, configurable: true });
      const storage = typeof caches.open;
      return [Cache, CacheStorage, storage, Object.getOwnPropertyDescriptor(globalThis, 'CacheStorage').writable];`);
    expect(out).toEqual(['mine', 7, 'function', false]);
    expect(lazyLoads(iso)).toEqual(['cache']);
    // Also when the module is loaded by another one that needs it (EventSource needs MessageEvent's).
    expect(await iso.run(`globalThis.MessageEvent = 'mine too'; return [EventSource.OPEN, MessageEvent, typeof CloseEvent]`)).toEqual([1, 'mine too', 'function']);
    expect(lazyLoads(iso)).toEqual(['cache', 'eventsource', 'message-events']);
  });

  // A module's body runs after the worker's code, under pristine.ts; what
  // its functions call while a request runs is the audit's business as for
  // any code of the prelude (these are among the built-ins it covers).
  it("loads and works for a worker that replaced the built-ins a module's body would use", async () => {
    iso = await createWebapiIsolate();
    const out = await iso.run(`
      const boom = (what) => function () { throw new Error(what + ' used'); };
      Array.prototype[Symbol.iterator] = boom('array iterator');
      Object.defineProperty = boom('Object.defineProperty');
      Object.defineProperties = boom('Object.defineProperties');
      Object.freeze = boom('Object.freeze');
      Object.keys = boom('Object.keys');
      Function.prototype.bind = boom('bind');
      Symbol.for = boom('Symbol.for');
      Reflect.apply = boom('Reflect.apply');
      // (URLPattern's own methods iterate arrays: only its loading is asked of here.)
      const pattern = typeof URLPattern.prototype.exec;
      const sjis = new TextDecoder('shift_jis').decode(Uint8Array.of(0x82, 0xa0));
      const closed = EventSource.CLOSED + new WebSocketPair()[0].readyState - 1;
      const rewritten = await new HTMLRewriter().on('a', { element(e) { e.setAttribute('href', '/y'); } }).transform(new Response('<a href="/x">x</a>')).text();
      return [pattern, sjis, closed, rewritten, typeof caches.default.match];`);
    expect(out).toEqual(['function', 'あ', 2, '<a href="/y">x</a>', 'function']);
  });

  // A module's body defines properties from descriptor objects, whose
  // 'enumerable', 'get' and 'set' are looked up through Object.prototype: a
  // worker that put a non-configurable accessor there (pristine() cannot take
  // it away) has its code run inside the load. The load runs inside the
  // asking entry, under that entry's timeout and charged to it like the
  // worker's own code, so this is the worker spinning, and ends as such.
  it('ends a request whose worker made a module load spin with cpu-limit, near its budget', async () => {
    const code = (await prepareScript(`export default { async fetch() {
      let spins = 0;
      Object.defineProperty(Object.prototype, 'enumerable', { get() { spins++; for (;;) {} }, configurable: false });
      const tries = [];
      for (let i = 0; i < 3; i++) {
        try { tries.push(typeof URLPattern); } catch (e) { tries.push(e.message); }
      }
      return new Response(spins + ' ' + tries.join(', '));
    } };`, 'module')).code;
    const rt = await Runtime.create({ source: (name) => ({ name, version: 1, format: 'module', code, env: {}, limits: { ...DEFAULT_LIMITS } }), poolSize: 1, poolMemoryMb: DEFAULT_LIMITS.memoryMb });
    try {
      const started = performance.now();
      const r = await callRuntime(rt, 'spinner');
      expect([r.error, r.status]).toEqual(['ERR_CPU_LIMIT', undefined]);
      // The default 50 ms budget, stretched on a loaded machine (cpu-clock.ts), well under this.
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      rt.destroy();
    }
  });
});
