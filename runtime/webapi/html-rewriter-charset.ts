// The document encoding HTMLRewriter rewrites in. workerd's lol-html takes
// it from the charset of the response's Content-Type (not from <meta>, and
// with no BOM sniffing), decodes for the handlers and encodes what they
// insert, characters the encoding lacks as numeric character references
// (`&#12354;`). html-rewriter-wasm's build is fixed to UTF-8, so the
// rewriter transcodes around it: bytes in → UTF-8 for lol-html, lol-html's
// UTF-8 out → the document's encoding. Here the single-byte encodings of the
// Encoding standard (windows-125x, ISO-8859-x, KOI8, macintosh,
// x-user-defined…), a table lookup per byte each way, a byte the encoding
// leaves unmapped carried as a marker (html-rewriter-markers.ts); the
// ASCII-compatible multi-byte ones (Shift_JIS, EUC-JP, EUC-KR, GBK, gb18030,
// Big5) in html-rewriter-multibyte.ts. ISO-2022-JP is refused as workerd
// refuses it: it is not ASCII-compatible.

import { TextDecoder } from './encoding.ts';
import { fromCharCodeOf, MARKER_BASE, presentMarkers, type Transcoder } from './html-rewriter-markers.ts';
import { MULTI_BYTE_REWRITABLE, newMultiByteTranscoder } from './html-rewriter-multibyte.ts';
import { SafeMap, stringCharCodeAt, stringSlice, stringToLowerCase, Uint8ArrayCtor } from './intrinsics.ts';
import { parseMimeType } from './mime-type.ts';

export type { Transcoder };

interface Table {
  /** Each byte's UTF-8 encoding. */
  utf8: Uint8Array[];
  /** Each byte as its decoder reads it alone (U+FFFD for an unmapped one), for handlers. */
  chars: string[];
  /** Code point → byte, for every byte (unmapped ones under UNMAPPED_BASE + byte). */
  reverse: Map<number, number>;
}

const tables = new SafeMap<string, Table>();

function table(encoding: string, decoder: TextDecoder): Table {
  const known = tables.get(encoding);
  if (known !== undefined) return known;
  const utf8: Uint8Array[] = [];
  const chars: string[] = [];
  const reverse = new SafeMap<number, number>();
  for (let b = 0; b < 256; b++) {
    const s = decoder.decode(new Uint8ArrayCtor([b]));
    let cp = s.length === 1 ? stringCharCodeAt(s, 0) : 0xfffd;
    chars[b] = fromCharCodeOf(cp);
    if (cp === 0xfffd) cp = MARKER_BASE + b;
    utf8[b] = utf8Of(cp);
    if (!reverse.has(cp)) reverse.set(cp, b);
  }
  const t: Table = { utf8, chars, reverse: reverse as unknown as Map<number, number> };
  tables.set(encoding, t);
  return t;
}

/** `s` without leading and trailing ASCII whitespace (the Encoding standard's label matching). */
function trimAscii(s: string): string {
  const ws = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
  let from = 0;
  let to = s.length;
  while (from < to && ws(stringCharCodeAt(s, from))) from++;
  while (to > from && ws(stringCharCodeAt(s, to - 1))) to--;
  return stringSlice(s, from, to);
}

function utf8Of(cp: number): Uint8Array {
  if (cp < 0x80) return new Uint8ArrayCtor([cp]);
  if (cp < 0x800) return new Uint8ArrayCtor([0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)]);
  return new Uint8ArrayCtor([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]);
}

/**
 * The transcoder for the charset of a response's `headers` (flat name/value
 * list, names lower-case): undefined for UTF-8 (no charset, or one that
 * names UTF-8). Throws a TypeError, as workerd does at transform(), for a
 * charset no encoding has, and for the encodings that are not
 * ASCII-compatible (UTF-16, ISO-2022-JP).
 */
export function transcoderFor(headers: readonly string[]): Transcoder | undefined {
  let contentType: string | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === 'content-type') contentType = headers[i + 1];
  if (contentType === undefined) return undefined;
  const parsed = parseMimeType(contentType);
  // parseMimeType's parameters are a SafeMap: `get` is the loaded one, not what a worker left on Map.prototype.
  const charset = parsed === null ? undefined : parsed.parameters.get('charset');
  if (charset === undefined) return undefined;
  // UTF-8's labels (Encoding standard §4.2) without a TextDecoder: the common case, and @exodus/bytes' constructor
  // goes through built-ins a worker may have replaced by the time it first rewrites.
  const label = stringToLowerCase(trimAscii(charset));
  if (label === 'utf-8' || label === 'utf8' || label === 'unicode-1-1-utf-8' || label === 'unicode11utf8' || label === 'unicode20utf8' || label === 'x-unicode20utf8') return undefined;
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    throw new TypeError('Parser error: Unknown character encoding has been provided.');
  }
  const encoding = decoder.encoding;
  if (encoding === 'utf-8') return undefined;
  if (encoding === 'utf-16le' || encoding === 'utf-16be' || encoding === 'iso-2022-jp') throw new TypeError('Parser error: Expected ASCII-compatible encoding.');
  for (let i = 0; i < MULTI_BYTE_REWRITABLE.length; i++) {
    if (MULTI_BYTE_REWRITABLE[i] === encoding) return newMultiByteTranscoder(encoding);
  }
  return newTranscoder(table(encoding, decoder));
}

function newTranscoder(t: Table): Transcoder {
  /** An incomplete UTF-8 sequence at the end of the last chunk. */
  let carry: number[] = [];
  return {
    decode(bytes) {
      let size = 0;
      for (let i = 0; i < bytes.length; i++) size += t.utf8[bytes[i]!]!.length;
      const out = new Uint8ArrayCtor(size);
      let at = 0;
      for (let i = 0; i < bytes.length; i++) {
        const u = t.utf8[bytes[i]!]!;
        for (let j = 0; j < u.length; j++) out[at++] = u[j]!;
      }
      return out;
    },
    flush() {
      return new Uint8ArrayCtor(0);
    },
    canEncode(s) {
      for (let i = 0; i < s.length; i++) {
        const c = stringCharCodeAt(s, i);
        if (c >= 0x80 && t.reverse.get(c) === undefined) return false;
      }
      return true;
    },
    present(s) {
      return presentMarkers(s, (bytes) => {
        let out = '';
        for (let i = 0; i < bytes.length; i++) out += t.chars[bytes[i]!]!;
        return out;
      });
    },
    encode(bytes) {
      const input: ArrayLike<number> = carry.length === 0 ? bytes : concatCarry(carry, bytes);
      carry = [];
      // A character of up to 3 UTF-8 bytes becomes at most 8 (&#65535;), one of 4 at most 10.
      const out = new Uint8ArrayCtor(input.length * 3 + 16);
      let at = 0;
      let i = 0;
      while (i < input.length) {
        const b0 = input[i]!;
        const n = b0 < 0x80 ? 1 : b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : 2;
        if (i + n > input.length) {
          for (let j = i; j < input.length; j++) carry[carry.length] = input[j]!;
          break;
        }
        let cp: number;
        if (n === 1) cp = b0;
        else if (n === 2) cp = ((b0 & 0x1f) << 6) | (input[i + 1]! & 0x3f);
        else if (n === 3) cp = ((b0 & 0x0f) << 12) | ((input[i + 1]! & 0x3f) << 6) | (input[i + 2]! & 0x3f);
        else cp = ((b0 & 0x07) << 18) | ((input[i + 1]! & 0x3f) << 12) | ((input[i + 2]! & 0x3f) << 6) | (input[i + 3]! & 0x3f);
        i += n;
        const b = cp < 0x80 ? cp : t.reverse.get(cp);
        if (b !== undefined) {
          out[at++] = b;
          continue;
        }
        const ref = `&#${cp};`;
        for (let j = 0; j < ref.length; j++) out[at++] = stringCharCodeAt(ref, j);
      }
      return new Uint8ArrayCtor(out.buffer, 0, at);
    },
  };
}

function concatCarry(carry: number[], bytes: Uint8Array): number[] {
  const all = carry;
  for (let i = 0; i < bytes.length; i++) all[all.length] = bytes[i]!;
  return all;
}
