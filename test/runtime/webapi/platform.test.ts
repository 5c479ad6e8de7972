import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('structuredClone', () => {
  it('clones cycles, Maps, Dates, typed arrays and errors', async () => {
    expect(
      await iso.run(`
        const o = { d: new Date(5), m: new Map([[1, { x: 1 }]]), u: new Uint8Array([1, 2]), e: new RangeError('r') };
        o.self = o;
        const c = structuredClone(o);
        return [c !== o, c.self === c, c.d.getTime(), c.m.get(1).x, [...c.u], c.e instanceof RangeError, c.e.message];`),
    ).toEqual([true, true, 5, 1, [1, 2], true, 'r']);
  });

  it('throws DataCloneError for functions, symbols and platform objects', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const v of [() => 1, { f() {} }, Symbol('s'), Promise.resolve(), new Headers()]) {
          try { structuredClone(v); out.push('ok'); } catch (e) { out.push(e.name); }
        }
        return out;`),
    ).toEqual(Array(5).fill('DataCloneError'));
  });
});

describe('crypto', () => {
  it('fills integer arrays from the host and refuses floats and more than 65536 bytes', async () => {
    expect(
      await iso.run(`
        const a = crypto.getRandomValues(new Uint32Array(8));
        const out = [a.some((x) => x !== 0)];
        for (const v of [new Float32Array(1), new Uint8Array(65537)]) {
          try { crypto.getRandomValues(v); out.push('ok'); } catch (e) { out.push(e.name); }
        }
        out.push(crypto.getRandomValues(new Uint8Array(65536)).length, 'subtle' in crypto);
        return out;`),
    ).toEqual([true, 'TypeMismatchError', 'QuotaExceededError', 65536, true]);
  });

  it('randomUUID returns distinct version-4 UUIDs', async () => {
    const [a, b] = await iso.run<string[]>(`return [crypto.randomUUID(), crypto.randomUUID()]`);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });
});

describe('global scope', () => {
  it('has self, navigator.userAgent, performance and queueMicrotask, and no Node globals', async () => {
    expect(
      await iso.run(`
        const t0 = performance.now();
        const order = [];
        queueMicrotask(() => order.push('micro'));
        order.push('sync');
        await Promise.resolve();
        return [self === globalThis, navigator.userAgent, typeof t0, performance.now() >= t0,
                Math.abs(performance.timeOrigin + t0 - Date.now()) < 1000, order,
                typeof process, typeof require, typeof Buffer];`),
    ).toEqual([true, 'edgefn', 'number', true, true, ['sync', 'micro'], 'undefined', 'undefined', 'undefined']);
  });
});

describe('Blob/File/FormData', () => {
  it('slices, streams and reads', async () => {
    expect(
      await iso.run(`
        const b = new Blob(['abc', new Uint8Array([100]), new Blob(['ef'])], { type: 'TEXT/Plain' });
        const s = b.slice(-4, -1, 'x/y');
        let streamed = ''; for await (const c of b.stream()) streamed += new TextDecoder().decode(c);
        const f = new File(['z'], 'n.txt', { lastModified: 42 });
        return [b.size, b.type, await s.text(), s.type, streamed, [...await b.slice(0, 2).bytes()], f.name, f.lastModified, f instanceof Blob];`),
    ).toEqual([6, 'text/plain', 'cde', 'x/y', 'abcdef', [97, 98], 'n.txt', 42, true]);
  });

  // WPT FileAPI/file/File-constructor.any.js "Unusual but valid property bag": a dictionary may be a function.
  it('takes a function as the options dictionary and refuses a primitive', async () => {
    expect(
      await iso.run(`
        const bag = function () {}; bag.type = 'text/x'; bag.lastModified = 7;
        let bad; try { new Blob([], 'text/plain'); } catch (e) { bad = e.constructor.name; }
        const f = new File(['a'], 'n', bag);
        return [new Blob(['a'], bag).type, f.type, f.lastModified, bad];`),
    ).toEqual(['text/x', 'text/x', 7, 'TypeError']);
  });

  // WPT FileAPI/blob/Blob-constructor.any.js: WebIDL converts the parts (each element as the iterator yields it),
  // then the options in lexicographic order, before the constructor's steps; Node 24 passes these.
  it('converts parts, then options in lexicographic order, and has length 0', async () => {
    expect(
      await iso.run(`
        const seen = [];
        const parts = { get [Symbol.iterator]() { seen.push('iterator'); return function* () { yield { toString() { seen.push('part'); return 'ab'; } }; }; } };
        const b = new Blob(parts, { get type() { seen.push('type'); return 'x/y'; }, get endings() { seen.push('endings'); return { toString() { seen.push('endings toString'); return 'native'; } }; } });
        let thrown; try { new Blob([{ toString() { throw new Error('part'); } }], { get type() { seen.push('not reached'); } }); } catch (e) { thrown = e.message; }
        return [seen, await b.text(), b.type, Blob.length, File.length, thrown];`),
    ).toEqual([['iterator', 'part', 'endings', 'endings toString', 'type'], 'ab', 'x/y', 0, 2, 'part']);
  });

  it('FormData wraps Blobs as Files and set() replaces in place', async () => {
    expect(
      await iso.run(`
        const fd = new FormData();
        fd.append('a', '1'); fd.append('b', new Blob(['x'])); fd.append('a', '2'); fd.set('a', '3');
        return [[...fd.keys()], fd.get('b') instanceof File, fd.get('b').name, fd.getAll('a')];`),
    ).toEqual([['a', 'b'], true, 'blob', ['3']]);
  });
});
