import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('TextDecoder', () => {
  it('replaces invalid UTF-8 with U+FFFD and strips a BOM unless ignoreBOM', async () => {
    expect(
      await iso.run(`
        const bad = new Uint8Array([0x61, 0xff, 0xe2, 0x82, 0x62]);
        const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]);
        return [new TextDecoder().decode(bad), new TextDecoder().decode(bom), new TextDecoder('utf-8', { ignoreBOM: true }).decode(bom).length];`),
    ).toEqual(['a\ufffd\ufffdb', 'hi', 3]);
  });

  it('throws TypeError in fatal mode and RangeError for unknown labels', async () => {
    expect(
      await iso.run(`
        let fatal; try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xc3])); } catch (e) { fatal = e.constructor.name; }
        let label; try { new TextDecoder('nope'); } catch (e) { label = e.constructor.name; }
        return [fatal, label, new TextDecoder(' UTF8 ').encoding, new TextDecoder('latin1').encoding];`),
    ).toEqual(['TypeError', 'RangeError', 'utf-8', 'windows-1252']);
  });

  it('decodes a multi-byte character split across stream chunks', async () => {
    expect(
      await iso.run(`
        const d = new TextDecoder();
        return d.decode(new Uint8Array([0xe2, 0x82]), { stream: true }) + d.decode(new Uint8Array([0xac]));`),
    ).toBe('€');
  });

  // WPT encoding/legacy-mb-*, iso-2022-jp-decoder, streams/decode-non-utf8: Node 24 and workerd decode these.
  it('decodes the legacy multi-byte encodings, streaming too, with each table asked from the host once, unpacked', async () => {
    const asked = () => iso.syncCalls.filter((c) => c.op === 'encoding-tables').map((c) => c.payload);
    const before = asked().length;
    const decodeAll = `
        const gbk = new TextDecoder('gbk').decode(new Uint8Array([0xc4, 0xe3, 0xba, 0xc3]));
        const sjis = new TextDecoder('shift_jis');
        const split = sjis.decode(new Uint8Array([0x82]), { stream: true }) + sjis.decode(new Uint8Array([0xa0]));
        const jis = new TextDecoder('iso-2022-jp').decode(new Uint8Array([0x1b, 0x24, 0x42, 0x30, 0x21, 0x1b, 0x28, 0x42, 0x61]));
        let fatal; try { new TextDecoder('euc-kr', { fatal: true }).decode(new Uint8Array([0xff, 0xff])); } catch (e) { fatal = e.constructor.name; }
        return [gbk, split, jis, new TextDecoder('big5').decode(new Uint8Array([0xa4, 0x40])), new TextDecoder('gb18030').decode(new Uint8Array([0x81, 0x30, 0x81, 0x30])), fatal];`;
    expect(await iso.run(decodeAll)).toEqual(['你好', 'あ', '亜a', '一', '\u0080', 'TypeError']);
    const first = asked().slice(before);
    // One call per table, each table once (shift_jis and iso-2022-jp share jis0208).
    expect(new Set(first).size).toBe(first.length);
    expect([...first].sort()).toEqual(['big5', 'euc-kr', 'gb18030', 'gb18030-ranges', 'jis0208']);
    // Decoding again asks for nothing: the isolate keeps what it was given.
    expect(await iso.run(decodeAll)).toEqual(['你好', 'あ', '亜a', '一', '\u0080', 'TypeError']);
    expect(asked().length).toBe(before + first.length);
  });

  it('refuses a table the codecs do not have', async () => {
    const { encodingTables } = await import('../../../runtime/host-ops/encoding-tables.ts');
    expect(() => encodingTables('$C' as never, undefined as never)).toThrow(/no multi-byte encoding table named \$C/);
    expect(() => encodingTables({} as never, undefined as never)).toThrow(TypeError);
    expect((encodingTables('jis0208' as never, undefined as never) as Uint16Array).length).toBe(11_104);
  });

  it('decodes UTF-16LE', async () => {
    expect(await iso.run(`return new TextDecoder('utf-16le').decode(new Uint8Array([0x68, 0, 0x69, 0]))`)).toBe('hi');
  });
});

describe('TextEncoder', () => {
  it('encodes lone surrogates as U+FFFD and reports read/written from encodeInto', async () => {
    expect(
      await iso.run(`
        const e = new TextEncoder();
        const buf = new Uint8Array(4);
        const r = e.encodeInto('a€b', buf);
        return [[...e.encode('\\ud800')], r.read, r.written, [...buf]];`),
    ).toEqual([[0xef, 0xbf, 0xbd], 2, 4, [0x61, 0xe2, 0x82, 0xac]]);
  });
});

describe('TextEncoderStream / TextDecoderStream', () => {
  it('round-trips through the streams', async () => {
    expect(
      await iso.run(`
        const s = ReadableStream.from(['a', '€', 'b']).pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream());
        let out = ''; for await (const c of s) out += c; return out;`),
    ).toBe('a€b');
  });
});

describe('SharedArrayBuffer and Atomics', () => {
  // Regression: boot deleted both globals, so WPT's encoding tests over shared
  // memory (and any library that feature-tests for them) failed where workerd passes.
  it('are globals, and Atomics works on shared memory within the one thread', async () => {
    expect(
      await iso.run(`
        const sab = new SharedArrayBuffer(16);
        const i32 = new Int32Array(sab);
        Atomics.add(i32, 0, 5);
        Atomics.store(i32, 1, 7);
        return [typeof SharedArrayBuffer, typeof Atomics, Atomics.load(i32, 0), Atomics.compareExchange(i32, 1, 7, 9), i32[1],
          Object.prototype.toString.call(sab)];`),
    ).toEqual(['function', 'object', 5, 7, 9, '[object SharedArrayBuffer]']);
  });

  it('Atomics.wait throws TypeError rather than park the only thread (nothing could notify it)', async () => {
    expect(await iso.run(`try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); return 'returned'; } catch (e) { return e.constructor.name; }`)).toBe('TypeError');
  });

  it('TextEncoder.encodeInto writes into a view of a SharedArrayBuffer, and TextDecoder reads one', async () => {
    expect(
      await iso.run(`
        const target = new Uint8Array(new SharedArrayBuffer(8), 1, 6);
        const r = new TextEncoder().encodeInto('h€llo', target);
        const whole = new TextDecoder().decode(new Uint8Array(target.buffer));
        const view = new TextDecoder().decode(new DataView(target.buffer, 1, 4));
        const streamed = new TextDecoder();
        const parts = streamed.decode(new Uint8Array(target.buffer, 1, 2), { stream: true }) + streamed.decode(new Uint8Array(target.buffer, 3, 4));
        return [r, [...new Uint8Array(target.buffer)], whole, view, parts];`),
    ).toEqual([{ read: 4, written: 6 }, [0, 104, 0xe2, 0x82, 0xac, 108, 108, 0], '\0h€ll\0', 'h€', 'h€ll']);
  });
});
