import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('streams', () => {
  // WPT streams/readable-streams/async-iterator.any.js "Async iterator instances should have the correct list of properties" (Node 24 passes it).
  it("gives ReadableStream's async iterator a prototype that inherits from %AsyncIteratorPrototype%", async () => {
    expect(
      await iso.run(`
        const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
        const it = new ReadableStream({ start(c) { c.enqueue(1); c.close(); } })[Symbol.asyncIterator]();
        const proto = Object.getPrototypeOf(it);
        const seen = []; for await (const v of new ReadableStream({ start(c) { c.enqueue(2); c.close(); } })) seen.push(v);
        return [Object.getPrototypeOf(proto) === AsyncIteratorPrototype, Object.getOwnPropertyNames(proto).sort(), seen];`),
    ).toEqual([true, ['next', 'return'], [2]]);
  });

  it('applies backpressure: pull is not called past the high-water mark', async () => {
    expect(
      await iso.run(`
        let pulls = 0;
        const s = new ReadableStream({ pull(c) { pulls++; c.enqueue(pulls); } }, new CountQueuingStrategy({ highWaterMark: 2 }));
        await new Promise((r) => setTimeout ? Promise.resolve().then(r) : r());
        for (let i = 0; i < 5; i++) await Promise.resolve();
        const before = pulls;
        const reader = s.getReader();
        await reader.read();
        for (let i = 0; i < 5; i++) await Promise.resolve();
        return [before, pulls];`),
    ).toEqual([2, 3]);
  });

  it('cancel reaches the source with the reason', async () => {
    expect(
      await iso.run(`
        let why; const s = new ReadableStream({ cancel(r) { why = r; } });
        await s.cancel('stop');
        return why;`),
    ).toBe('stop');
  });

  it('errors reject pending reads and pipeTo', async () => {
    expect(
      await iso.run(`
        const s = new ReadableStream({ start(c) { c.error(new TypeError('bad')); } });
        const out = [];
        try { await s.getReader().read(); } catch (e) { out.push(e.message); }
        const t = new ReadableStream({ pull(c) { c.error(new RangeError('x')); } });
        try { await t.pipeTo(new WritableStream()); } catch (e) { out.push(e.constructor.name); }
        return out;`),
    ).toEqual(['bad', 'RangeError']);
  });

  it('tee gives both branches every chunk', async () => {
    expect(
      await iso.run(`
        const [a, b] = ReadableStream.from([1, 2, 3]).tee();
        const all = async (s) => { const o = []; for await (const x of s) o.push(x); return o; };
        return [await all(a), await all(b)];`),
    ).toEqual([[1, 2, 3], [1, 2, 3]]);
  });

  it('TransformStream and WritableStream work together with pipeThrough', async () => {
    expect(
      await iso.run(`
        const got = [];
        await ReadableStream.from(['a', 'b'])
          .pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()); } }))
          .pipeTo(new WritableStream({ write(c) { got.push(c); } }));
        return got;`),
    ).toEqual(['A', 'B']);
  });

  it('BYOB readers read from byte streams into the given buffer', async () => {
    expect(
      await iso.run(`
        const s = new ReadableStream({ type: 'bytes', pull(c) { const v = c.byobRequest.view; v[0] = 7; c.byobRequest.respond(1); c.close(); } });
        const r = s.getReader({ mode: 'byob' });
        const { value } = await r.read(new Uint8Array(4));
        return [value.byteLength, value[0], new ByteLengthQueuingStrategy({ highWaterMark: 3 }).size(new Uint8Array(5))];`),
    ).toEqual([1, 7, 5]);
  });
  // WPT streams/piping/general-addition.any.js "enqueue() must not synchronously call write algorithm"
  // (Node 24 passes it): the pipe's read request writes from a microtask, not from inside enqueue().
  it('pipeTo writes a chunk enqueued into a waiting pipe after enqueue() returns, in order, before the close', async () => {
    expect(
      await iso.run(`
        const log = [];
        let con;
        const piped = new ReadableStream({ start(c) { con = c; } }, { highWaterMark: 0 }).pipeTo(
          new WritableStream({ write(chunk) { log.push('write ' + chunk); }, close() { log.push('close'); } }),
        );
        await Promise.resolve();
        con.enqueue('a');
        log.push('enqueued');
        con.enqueue('b');
        con.close();
        await piped;
        return log;`),
    ).toEqual(['enqueued', 'write a', 'write b', 'close']);
  });
  // WPT streams/readable-streams/owning-type.any.js "ReadableStream should check transfer parameter"
  // (workerd passes it by turning start()'s exception into the stream's error; see stream-enqueue-options.ts).
  it("enqueue() refuses a non-empty transfer list, since no stream here is of type 'owning', and ignores an empty one", async () => {
    expect(
      await iso.run(`
        const out = [];
        const t = (name, f) => { try { f(); out.push(name + ': ok'); } catch (e) { out.push(name + ': ' + e.constructor.name); } };
        const chunks = [];
        new ReadableStream({ start(c) {
          const buffer = new ArrayBuffer(8);
          t('transfer [buffer]', () => c.enqueue(buffer, { transfer: [buffer] }));
          out.push('byteLength ' + buffer.byteLength);
          t('getter throws', () => c.enqueue(buffer, { get transfer() { throw new RangeError('mine'); } }));
          t('transfer 5', () => c.enqueue(1, { transfer: 5 }));
          t('transfer [1]', () => c.enqueue(1, { transfer: [1] }));
          t('transfer []', () => c.enqueue('a', { transfer: [] }));
          t('transfer undefined', () => c.enqueue('b', { transfer: undefined }));
          t('no options', () => c.enqueue('c'));
          ['d', 'e'].forEach(c.enqueue, c);
          c.close();
        } }).pipeTo(new WritableStream({ write(x) { chunks.push(x); } }));
        await new Promise((r) => setTimeout(r, 0));
        t('type owning', () => new ReadableStream({ type: 'owning' }));
        return [out, chunks, ReadableStreamDefaultController.prototype.enqueue.length];`),
    ).toEqual([
      ['transfer [buffer]: TypeError', 'byteLength 8', 'getter throws: RangeError', 'transfer 5: TypeError', 'transfer [1]: TypeError', 'transfer []: ok', 'transfer undefined: ok', 'no options: ok', 'type owning: TypeError'],
      ['a', 'b', 'c', 'd', 'e'],
      0,
    ]);
  });
});
