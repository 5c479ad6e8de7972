// Hostile workers: each replaces a built-in that the platform's own code
// could call (Object.prototype.then, Promise.prototype.then,
// Array.prototype[Symbol.iterator], Function.prototype.call/apply,
// Symbol.species getters, Map/Set methods, the globals themselves), then
// answers with a streamed response whose making runs the platform's internal
// paths: streaming a response body to the host, reading a body whole, a body
// over known bytes, structuredClone, Headers, and a trusted abort event. The
// response must be exactly what an untouched isolate sends, and the
// replacement must never have been called by the platform (runtime/webapi/intrinsics.ts).
//
// The worker's own code below is written so that it calls none of the
// replaced built-ins itself (index loops, no .then, awaits only on promises
// the spec resolves without a `then` lookup), so every count is the platform's.

import { afterEach, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate | undefined;
afterEach(() => {
  iso?.dispose();
  iso = undefined;
});

const EXPECTED = '123|whole|known|2,3|x-a=1;x-b=2;|true|hits=0';

/** A sync fetch handler that installs `hostile` and then streams EXPECTED, made through the platform's internal paths. */
function worker(hostile: string): string {
  return `
    globalThis.__hits = 0;
    const Prom = Promise;
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    ${hostile}
    const body = new ReadableStream({
      start(c) {
        (async () => {
          for (let i = 1; i <= 3; i++) {
            c.enqueue(enc.encode('' + i));
            await new Prom((resolve) => setTimeout(resolve, 1));
          }
          const whole = await new Response(new ReadableStream({ start(s) { s.enqueue(enc.encode('who')); s.enqueue(enc.encode('le')); s.close(); } })).text();
          const known = await new Response(new Response('known').body).text();
          const cloned = structuredClone({ a: { b: 2, c: 3 } });
          const h = new Headers({ 'X-A': '1' });
          h.append('x-b', '2');
          let hs = '';
          h.forEach((v, k) => { hs += k + '=' + v + ';'; });
          const trusted = await new Prom((resolve) => {
            const ac = new AbortController();
            ac.signal.onabort = (e) => resolve(e.isTrusted);
            ac.abort();
          });
          c.enqueue(enc.encode('|' + whole + '|' + known + '|' + cloned.a.b + ',' + cloned.a.c + '|' + hs + '|' + trusted + '|hits=' + globalThis.__hits));
          c.close();
        })();
      },
    });
    return new Response(body, { headers: { 'x-check': 'ok' } });`;
}

async function respondWith(hostile: string): Promise<{ status: number; text: string; mode: string; logs: string[] }> {
  iso = await createWebapiIsolate();
  const res = await iso.respond(worker(hostile), { sync: true });
  return { status: res.status, text: res.text, mode: res.mode, logs: iso.logs.filter((l) => !l.startsWith('log:')) };
}

describe('a hostile worker cannot take over the platform through the built-ins', () => {
  it('control: the untouched worker streams the expected body', async () => {
    expect(await respondWith('')).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  // Regression: the response pump and body reading used reader.read(), whose
  // { value, done } result objects were resolved through Object.prototype.then.
  it('Object.prototype.then: stream reads, host calls and body reads resolve no object through it', async () => {
    const hostile = `
      Object.defineProperty(Object.prototype, 'then', {
        configurable: true,
        get() {
          globalThis.__hits++;
          return (resolve) => resolve({ value: enc.encode('HIJACKED'), done: true });
        },
      });`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  it('Promise.prototype.then replaced by one that never settles: the platform chains on its own promises', async () => {
    const hostile = `
      Promise.prototype.then = function () { globalThis.__hits++; return new Promise(() => {}); };
      Promise.prototype.catch = function () { globalThis.__hits++; return new Promise(() => {}); };`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  it('Array.prototype[Symbol.iterator] replaced: no internal loop iterates through it', async () => {
    const hostile = `
      const realIterator = Array.prototype[Symbol.iterator];
      Array.prototype[Symbol.iterator] = function () { globalThis.__hits++; return realIterator.call(['HIJACKED']); };`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  it('Function.prototype.call and apply replaced by throwing functions: nothing internal calls them', async () => {
    const hostile = `
      for (const name of ['call', 'apply']) {
        Object.defineProperty(Function.prototype, name, {
          configurable: true,
          writable: true,
          value: function () { globalThis.__hits++; throw new Error('hijacked ' + name); },
        });
      }`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  it('Symbol.species getters on Array, Promise, ArrayBuffer and Uint8Array: never consulted internally', async () => {
    const hostile = `
      for (const C of [Array, Promise, ArrayBuffer, Uint8Array, Object.getPrototypeOf(Uint8Array)]) {
        Object.defineProperty(C, Symbol.species, { configurable: true, get() { globalThis.__hits++; return C; } });
      }
      for (const C of [Array, Promise]) {
        Object.defineProperty(C.prototype, 'constructor', { configurable: true, writable: true, value: C });
      }`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  it('Map, Set and WeakMap methods replaced: internal tables (requests, host calls, timers, listeners) use their own', async () => {
    const hostile = `
      for (const C of [Map, Set, WeakMap]) {
        for (const name of ['get', 'set', 'has', 'delete', 'add', 'clear', 'entries', 'values', 'forEach']) {
          if (typeof C.prototype[name] === 'function') C.prototype[name] = function () { globalThis.__hits++; throw new Error('hijacked ' + name); };
        }
      }`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });

  it('globals reassigned (Uint8Array, Promise, Map, TypeError, Object, Array): the platform keeps the originals', async () => {
    const hostile = `
      const defineProp = Object.defineProperty;
      const names = ['Uint8Array', 'ArrayBuffer', 'DataView', 'Promise', 'Map', 'Set', 'WeakMap', 'WeakRef', 'TypeError', 'RangeError', 'Error', 'Object', 'Array', 'Reflect', 'JSON', 'Math', 'String', 'Number', 'Symbol'];
      for (let i = 0; i < names.length; i++) {
        const name = names[i];
        const real = globalThis[name];
        defineProp(globalThis, name, { configurable: true, get() { globalThis.__hits++; return real; } });
      }`;
    expect(await respondWith(hostile)).toEqual({ status: 200, text: EXPECTED, mode: 'stream', logs: [] });
  });
});

describe('libraries loaded on first use', () => {
  it('load against the original built-ins, and the worker keeps its own changes afterwards', async () => {
    iso = await createWebapiIsolate();
    expect(
      await iso.run(`
        const realIterator = Array.prototype[Symbol.iterator];
        Array.prototype[Symbol.iterator] = function () { return realIterator.call(['mine']); };
        Object.prototype.then = 'not a function';
        // First touch: the streams library and whatwg-url load now.
        const text = await new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('ok')); c.close(); } })).text();
        const URLClass = URL;
        const after = [...[1, 2]];
        const then = Object.prototype.then;
        delete Object.prototype.then;
        Array.prototype[Symbol.iterator] = realIterator;
        // whatwg-url's calls go through the built-ins of the moment (a gap the README names), so it is used once they are back.
        return [text, new URLClass('https://example.com/a').host, after, then];`),
    ).toEqual(['ok', 'example.com', ['mine'], 'not a function']);
  });
});
