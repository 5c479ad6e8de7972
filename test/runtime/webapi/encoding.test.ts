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
