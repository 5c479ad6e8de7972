import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('structuredClone with a transfer list', () => {
  // Regression: any non-empty transfer list threw DataCloneError, where workerd
  // (and HTML) move the ArrayBuffer (found by the conformance suite).
  it('moves a transferred ArrayBuffer: the clone keeps the bytes, the original is detached', async () => {
    expect(
      await iso.run(`
        const buf = new Uint8Array([1, 2, 3]).buffer;
        const moved = structuredClone(buf, { transfer: [buf] });
        const nested = new Uint8Array([9, 8]).buffer;
        const obj = structuredClone({ data: nested, n: 1 }, { transfer: [nested] });
        return [buf.byteLength, buf.detached, [...new Uint8Array(moved)], nested.detached, [...new Uint8Array(obj.data)], obj.n];`),
    ).toEqual([0, true, [1, 2, 3], true, [9, 8], 1]);
  });

  it('throws DataCloneError for a non-transferable, a duplicate or a detached buffer, and detaches nothing', async () => {
    expect(
      await iso.run(`
        const out = [];
        const a = new ArrayBuffer(4);
        const detached = new ArrayBuffer(1);
        detached.transfer();
        for (const list of [[{}], [a, a], [detached], [new Uint8Array(2)]]) {
          try { structuredClone(1, { transfer: list }); out.push('ok'); } catch (e) { out.push(e.name); }
        }
        out.push(a.detached);
        return out;`),
    ).toEqual(['DataCloneError', 'DataCloneError', 'DataCloneError', 'DataCloneError', false]);
  });

  it('accepts an empty transfer list', async () => {
    expect(await iso.run(`return structuredClone({ a: 1 }, { transfer: [] }).a;`)).toBe(1);
  });
});

describe('structuredClone of values', () => {
  // Regression: @ungap/structured-clone keyed its memory by value, so a -0
  // after a +0 in the same graph came back as +0 (WPT structured-clone).
  it('keeps -0, also after a +0 and inside wrappers and typed arrays', async () => {
    expect(
      await iso.run(`
        const c = structuredClone([0, -0, { n: -0 }, new Number(-0), new Float64Array([-0])]);
        return [Object.is(c[0], 0), Object.is(c[1], -0), Object.is(c[2].n, -0), Object.is(c[3].valueOf(), -0), Object.is(c[4][0], -0)];`),
    ).toEqual([true, true, true, true, true]);
  });

  it('clones a Blob and a File with their bytes, type, name and lastModified', async () => {
    expect(
      await iso.run(`
        const blob = structuredClone(new Blob(['héllo'], { type: 'text/plain' }));
        const file = structuredClone(new File(['abc'], 'a.txt', { type: 'text/x', lastModified: 42 }));
        const nested = structuredClone({ parts: [new Blob(['x'])] });
        return [blob instanceof Blob, blob instanceof File, blob.type, await blob.text(), file instanceof File, file.name, file.lastModified, file.type,
          await file.text(), await nested.parts[0].text()];`),
    ).toEqual([true, false, 'text/plain', 'héllo', true, 'a.txt', 42, 'text/x', 'abc', 'x']);
  });

  it('keeps shared references and cycles, and clones Map, Set, Date, RegExp, wrappers and errors', async () => {
    expect(
      await iso.run(`
        const shared = { s: 1 };
        const o = { a: shared, b: shared, m: new Map([[shared, 'v']]), set: new Set([shared]), d: new Date(5), r: /x+/gi,
          big: 10n, wrap: [new Boolean(false), new String('s'), Object(3n)], e: new RangeError('bad', { cause: shared }) };
        o.self = o;
        const odd = new Error('odd');
        odd.name = 'constructor';
        o.odd = odd;
        const c = structuredClone(o);
        return [c.a === c.b, c.a !== shared, c.self === c, c.m.get(c.a), c.set.has(c.a), c.d.getTime(), c.r.source, c.r.flags, c.r.lastIndex,
          c.big, c.wrap.map((w) => Object.prototype.toString.call(w)), c.e instanceof RangeError, c.e.message, c.e.cause === c.a];`),
    ).toEqual([true, true, true, 'v', true, 5, 'x+', 'gi', 0, 10n, ['[object Boolean]', '[object String]', '[object BigInt]'], true, "bad", true]);
  });

  it('clones typed arrays over one buffer to views over one copy; a SharedArrayBuffer clones to itself', async () => {
    expect(
      await iso.run(`
        const buf = new ArrayBuffer(8, { maxByteLength: 16 });
        const [a, b] = structuredClone([new Uint8Array(buf, 0, 4), new DataView(buf, 2, 4)]);
        a[2] = 7;
        const sab = new SharedArrayBuffer(4);
        const s = structuredClone({ sab });
        new Uint8Array(s.sab)[0] = 9;
        return [a.buffer === b.buffer, a.buffer !== buf, b.getUint8(0), a.buffer.resizable, a.buffer.maxByteLength, new Uint8Array(sab)[0]];`),
    ).toEqual([true, true, 7, true, 16, 9]);
  });

  it('throws DataCloneError for functions, symbols, promises, weak collections and platform objects', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const v of [() => 1, Symbol('s'), Promise.resolve(), new WeakMap(), new Headers(), { f() {} }, Object(Symbol())]) {
          try { structuredClone(v); out.push('cloned'); } catch (e) { out.push(e.name); }
        }
        return out;`),
    ).toEqual(Array(7).fill('DataCloneError'));
  });

  it('recognises types by brand, not by a Symbol.toStringTag an object fakes; class instances clone as plain objects', async () => {
    expect(
      await iso.run(`
        class Point { constructor() { this.x = 1; } get y() { return 2; } }
        const fake = { [Symbol.toStringTag]: 'Date', v: 1 };
        const p = structuredClone(new Point());
        let asDate;
        try { asDate = structuredClone(fake); } catch (e) { asDate = e.name; }
        return [Object.getPrototypeOf(p) === Object.prototype, p.x, 'y' in p, asDate instanceof Date];`),
    ).toEqual([true, 1, false, false]);
  });

  it('reads own enumerable properties in order with their getters, skipping ones a getter deleted', async () => {
    expect(
      await iso.run(`
        const log = [];
        const o = { get a() { log.push('a'); delete this.b; return 1; }, b: 2, get c() { log.push('c'); return 3; } };
        Object.defineProperty(o, 'hidden', { value: 4, enumerable: false });
        const c = structuredClone(o);
        return [log, Object.keys(c), c.a, c.c];`),
    ).toEqual([['a', 'c'], ['a', 'c'], 1, 3]);
  });
});
