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
