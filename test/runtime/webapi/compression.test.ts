// CompressionStream / DecompressionStream inside a snapshot isolate, checked
// against the host's zlib in both directions.
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';
import { compressionStep, OUTPUT_SLICE } from '../../../runtime/host-ops/compression.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
  await iso.run(`
    globalThis.hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
    globalThis.unhex = (s) => new Uint8Array((s.match(/../g) ?? []).map((h) => parseInt(h, 16)));
    // Pipe chunks through a transform and collect the output; an error comes back as its name and message.
    globalThis.through = async (ts, chunks) => {
      const readable = new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } }).pipeThrough(ts);
      const parts = [];
      let n = 0;
      try { for await (const p of readable) { parts.push(p); n += p.byteLength; } }
      catch (e) { return { error: e.constructor.name + ': ' + e.message }; }
      const out = new Uint8Array(n);
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.byteLength; }
      return { out, chunks: parts.length, types: [...new Set(parts.map((p) => p.constructor.name))] };
    };`);
});
afterAll(() => iso.dispose());

function stored(): number {
  const s = iso.opContext.isolate.get('compression.streams') as { streams: Map<number, unknown> } | undefined;
  return s?.streams.size ?? 0;
}

describe('CompressionStream / DecompressionStream', () => {
  it('are TransformStreams, and refuse unknown formats and a missing format with TypeError', async () => {
    expect(
      await iso.run(`
        const out = [new CompressionStream('gzip') instanceof TransformStream, Object.prototype.toString.call(new DecompressionStream('deflate-raw'))];
        for (const f of ['brotli', 'GZIP', undefined]) { try { new CompressionStream(f); out.push('ok'); } catch (e) { out.push(e.name); } }
        try { new DecompressionStream(); out.push('ok'); } catch (e) { out.push(e.name); }
        return out;`),
    ).toEqual([true, '[object DecompressionStream]', 'TypeError', 'TypeError', 'TypeError', 'TypeError']);
  });

  it('gzip output is read by the host zlib.gunzipSync, for several chunks of different BufferSource types', async () => {
    const r = await iso.run<{ out: Uint8Array; types: string[] }>(`
      const enc = new TextEncoder();
      return through(new CompressionStream('gzip'), [enc.encode('hello '), enc.encode('xxworldxx').buffer.slice(2, 7), new DataView(enc.encode('!').buffer)]);`);
    expect(r.types).toEqual(['Uint8Array']);
    expect(gunzipSync(r.out).toString()).toBe('hello world!');
    // RFC 1952 magic.
    expect([...r.out.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
  });

  it('deflate and deflate-raw output is read by the host inflateSync / inflateRawSync, and an empty input still makes a valid stream', async () => {
    const r = await iso.run<Array<{ out: Uint8Array }>>(`
      const data = new TextEncoder().encode('abc'.repeat(1000));
      return [await through(new CompressionStream('deflate'), [data]), await through(new CompressionStream('deflate-raw'), [data]), await through(new CompressionStream('gzip'), [])];`);
    expect(inflateSync(r[0]!.out).toString()).toBe('abc'.repeat(1000));
    expect(r[0]!.out.byteLength).toBeLessThan(100);
    expect(inflateRawSync(r[1]!.out).toString()).toBe('abc'.repeat(1000));
    expect(gunzipSync(r[2]!.out).byteLength).toBe(0);
  });

  it('decompresses what the host zlib made, byte for byte, across all three formats', async () => {
    const data = randomBytes(50_000);
    const cases = { gzip: gzipSync(data), deflate: deflateSync(data), 'deflate-raw': deflateRawSync(data) };
    const r = await iso.run<Record<string, string>>(`
      const cases = ${JSON.stringify(Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, v.toString('hex')])))};
      const out = {};
      for (const [format, h] of Object.entries(cases)) {
        const bytes = unhex(h);
        // Split the input at odd places so headers and trailers straddle chunks.
        const r = await through(new DecompressionStream(format), [bytes.subarray(0, 7), bytes.subarray(7, 20001), bytes.subarray(20001)]);
        out[format] = r.error ?? hex(r.out);
      }
      return out;`);
    for (const format of Object.keys(cases)) expect(r[format], format).toBe(data.toString('hex'));
  });

  it('round-trips gzip inside the isolate, and a large expansion arrives in bounded pieces', async () => {
    const size = 3 * OUTPUT_SLICE + 12345;
    const r = await iso.run<{ n: number; ok: boolean; chunks: number; max: number }>(`
      const data = new Uint8Array(${size});
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0x3f;
      const gz = await through(new CompressionStream('gzip'), [data]);
      const pieces = [];
      const back = await through(new DecompressionStream('gzip'), [gz.out]);
      // Compressing is deterministic; re-read the decompressed chunk sizes.
      const rs = new ReadableStream({ start(c) { c.enqueue(gz.out); c.close(); } }).pipeThrough(new DecompressionStream('gzip'));
      for await (const p of rs) pieces.push(p.byteLength);
      let ok = back.out.length === data.length;
      for (let i = 0; ok && i < data.length; i++) ok = back.out[i] === data[i];
      return { n: back.out.length, ok, chunks: pieces.length, max: Math.max(...pieces) };`);
    expect(r.n).toBe(size);
    expect(r.ok).toBe(true);
    // The host paused zlib at each slice instead of buffering the whole expansion.
    expect(r.chunks).toBeGreaterThanOrEqual(3);
    expect(r.max).toBeLessThanOrEqual(OUTPUT_SLICE + 64 * 1024);
    expect(stored()).toBe(0);
  });

  it('errors the stream with a TypeError on corrupt, truncated and trailing input, and frees the host stream', async () => {
    const gz = gzipSync(Buffer.from('some text to compress'));
    const r = await iso.run<string[]>(`
      const gz = unhex('${gz.toString('hex')}');
      const out = [];
      out.push((await through(new DecompressionStream('gzip'), [new TextEncoder().encode('this is not gzip')])).error);
      out.push((await through(new DecompressionStream('gzip'), [gz.subarray(0, gz.length - 4)])).error);
      out.push((await through(new DecompressionStream('gzip'), [gz, new Uint8Array([1, 2, 3])])).error);
      out.push((await through(new DecompressionStream('deflate'), [gz])).error);
      out.push((await through(new CompressionStream('gzip'), ['not bytes'])).error);
      return out;`);
    expect(r).toHaveLength(5);
    for (const e of r) expect(e).toMatch(/^TypeError: /);
    expect(r[0]).toMatch(/Decompression failed: incorrect header check/);
    expect(r[1]).toMatch(/unexpected end of file/);
    expect(r[2]).toMatch(/Trailing junk/);
    expect(stored()).toBe(0);
  });

  // WPT compression/*-bad-chunks "chunk of type SharedArrayBuffer / shared Uint8Array" (Node 24 and workerd pass them).
  it('errors the stream with a TypeError on a SharedArrayBuffer or a view of one', async () => {
    const r = await iso.run<string[]>(`
      const sab = new SharedArrayBuffer(4);
      return [
        (await through(new CompressionStream('gzip'), [sab])).error,
        (await through(new CompressionStream('deflate'), [new Uint8Array(sab)])).error,
        (await through(new DecompressionStream('gzip'), [new DataView(sab)])).error,
      ];`);
    expect(r).toHaveLength(3);
    for (const e of r) expect(e).toMatch(/^TypeError: The chunk written to a compression stream must be an ArrayBuffer or ArrayBufferView/);
    expect(stored()).toBe(0);
  });

  it('frees the host zlib stream when the readable side is cancelled mid-way', async () => {
    await iso.run(`
      const cs = new CompressionStream('deflate');
      globalThis.w = cs.writable.getWriter();
      globalThis.reader = cs.readable.getReader();
      void w.write(crypto.getRandomValues(new Uint8Array(60000))).catch(() => {});
      await reader.read();`);
    expect(stored()).toBe(1);
    await iso.run(`await reader.cancel('enough');`);
    expect(stored()).toBe(0);
  });

  it('destroys a stream when the request that opened it ends', async () => {
    const ctrl = new AbortController();
    const ctx = { ...iso.opContext, signal: ctrl.signal };
    const first = (await compressionStep({ id: 9_001, open: { format: 'gzip', decompress: false }, chunk: new Uint8Array([1, 2, 3]) }, ctx)) as { done: boolean };
    expect(first.done).toBe(true);
    expect(stored()).toBe(1);
    ctrl.abort();
    expect(stored()).toBe(0);
    await expect(compressionStep({ id: 9_001, end: true }, ctx)).rejects.toThrow(TypeError);
  });
});
