// HTMLRewriter's transcoder for the ASCII-compatible multi-byte encodings
// lol-html rewrites natively in workerd: Shift_JIS, EUC-JP, EUC-KR, GBK,
// gb18030 and Big5 (not ISO-2022-JP, which is not ASCII-compatible).
// Decoding and encoding are @exodus/bytes' (the isolate's TextDecoder), with
// the index tables asked from the host on first use (encoding-tables.ts).
//
// In: each byte sequence that decodes to a character and encodes back to the
// same bytes goes to lol-html as that character; every other sequence (an
// invalid one, a Shift_JIS NEC/IBM duplicate, a Big5-HKSCS character, a PUA
// code, gb18030's 0x80) goes as markers (html-rewriter-markers.ts), so that
// content no handler touched comes out byte for byte, as lol-html does. A
// sequence cut by the end of a chunk waits for the next one. Out: markers
// back to their bytes, the rest encoded, characters the encoding lacks as
// `&#N;` (encoding_rs's, and so workerd's, HTML replacement).

import { box, bytesView, copyBytes, SafeMap, stringCharCodeAt, stringFromCharCode, stringSlice, typedArraySet, Uint8ArrayCtor } from './intrinsics.ts';
import { hasMarkers, isMarker, MARKER_BASE, markersOf, presentMarkers, type Transcoder } from './html-rewriter-markers.ts';
import { multiByteDecoder, multiByteEncoder, TextDecoder, utf8Encode } from './encoding.ts';

/** The encodings (TextDecoder's names) this transcoder takes. */
export const MULTI_BYTE_REWRITABLE: readonly string[] = ['shift_jis', 'euc-jp', 'euc-kr', 'gbk', 'gb18030', 'big5'];

/** A byte after which a new sequence starts in all six: ASCII that is no encoding's trail byte (gb18030's 4-byte form uses digits). */
function isBoundary(b: number): boolean {
  return b < 0x30 || (b >= 0x3a && b < 0x40);
}

export function newMultiByteTranscoder(encoding: string): Transcoder {
  const decodeLoose = multiByteDecoder(encoding, true);
  const encodeStrict = multiByteEncoder(encoding);
  const decodeBytes = (bytes: Uint8Array): string => decodeLoose(bytes, false);
  const utf8 = new TextDecoder('utf-8');
  const leadBytes = leadTable(encoding);
  /**
   * Per two-byte sequence (key 0x10000 | bytes, one byte alone by its value):
   * its text when it round-trips, null when it goes as markers; and for a
   * lead and an ASCII byte, how many of the two the decoder takes. A page
   * that repeats a character that does not round-trip (a Shift_JIS NEC
   * duplicate in every line) takes the sequence-by-sequence path for every
   * chunk; with these it costs about what the whole-chunk path does
   * (measured on 1 MB pages, see README).
   */
  const known = new SafeMap<number, string | null>();
  const taken = new SafeMap<number, number>();
  /** Bytes of a sequence the last chunk ended inside. */
  let held: Uint8Array = new Uint8ArrayCtor(0);

  /** `s` encoded, or undefined when a character of it has no encoding. */
  const tryEncode = (s: string): Uint8Array | undefined => {
    try {
      return encodeStrict(s);
    } catch {
      return undefined;
    }
  };

  /** Whether `bytes[from, to)` decodes to text that encodes back to the same bytes and carries no marker code point. */
  const roundTrip = (bytes: Uint8Array, from: number, to: number): string | undefined => {
    const piece = bytesView(bytes, from, to);
    const text = decodeBytes(piece);
    if (hasMarkers(text)) return undefined;
    const back = tryEncode(text);
    if (back === undefined || back.length !== piece.length) return undefined;
    for (let i = 0; i < back.length; i++) if (back[i] !== piece[i]) return undefined;
    return text;
  };

  /**
   * The length of the sequence at `bytes[i]` as the Encoding standard's
   * decoder consumes it (an ASCII byte after a lead that does not make a
   * character with it is not consumed), or 0 when it runs past `end`.
   */
  const sequenceLength = (bytes: Uint8Array, i: number, end: number): number => {
    const b = bytes[i]!;
    const need = leadBytes[b]!;
    if (need <= 1) return 1;
    let n = 1;
    while (n < need) {
      if (i + n >= end) return 0;
      const next = bytes[i + n]!;
      // gb18030: a lead then a digit is a four-byte sequence; otherwise two bytes.
      if (need === 4 && n === 1 && !(next >= 0x30 && next <= 0x39)) return trailLength(bytes, i, 2);
      if (need === 4 && n === 2 && !(next >= 0x81 && next <= 0xfe)) return 1;
      if (need === 4 && n === 3 && !(next >= 0x30 && next <= 0x39)) return 1;
      // EUC-JP: 0x8F then a byte of 0xA1–0xFE is a three-byte (JIS X 0212) sequence.
      if (need === 3 && n === 1 && !(next >= 0xa1 && next <= 0xfe)) return trailLength(bytes, i, 2);
      n++;
    }
    // The last byte of a two- or three-byte sequence may be an ASCII byte the decoder gives back; gb18030's fourth is always taken.
    return need === 4 ? 4 : trailLength(bytes, i, need);
  };

  /** A lead and one more byte: both, unless that byte is ASCII and the pair makes no character (the decoder gives the byte back). */
  const trailLength = (bytes: Uint8Array, i: number, n: number): number => {
    const last = bytes[i + n - 1]!;
    if (last >= 0x80) return n;
    const key = n === 2 ? (bytes[i]! << 8) | last : -1;
    const memo = key < 0 ? undefined : taken.get(key);
    if (memo !== undefined) return memo;
    const text = decodeBytes(bytesView(bytes, i, i + n));
    const length = text.length === 2 && stringCharCodeAt(text, 0) === 0xfffd && stringCharCodeAt(text, 1) === last ? n - 1 : n;
    if (key >= 0) taken.set(key, length);
    return length;
  };

  /** UTF-8 for lol-html of the whole sequences in `bytes[0, end)`. */
  const decodeWhole = (bytes: Uint8Array, end: number): Uint8Array => {
    const fast = roundTrip(bytes, 0, end);
    if (fast !== undefined) return utf8Encode(fast);
    let text = '';
    let i = 0;
    while (i < end) {
      const b = bytes[i]!;
      if (b < 0x80) {
        text += stringFromCharCode(b);
        i++;
        continue;
      }
      const n = sequenceLength(bytes, i, end);
      const key = n === 1 ? b : n === 2 ? 0x10000 | (b << 8) | bytes[i + 1]! : -1;
      let one = key < 0 ? undefined : known.get(key);
      if (one === undefined) {
        one = roundTrip(bytes, i, i + n) ?? null;
        if (key >= 0) known.set(key, one);
      }
      text += one !== null ? one : markersOf(bytes, i, i + n);
      i += n;
    }
    return utf8Encode(text);
  };

  return {
    decode(chunk) {
      let bytes = chunk;
      if (held.length > 0) {
        bytes = new Uint8ArrayCtor(held.length + chunk.length);
        typedArraySet(bytes, held, 0);
        typedArraySet(bytes, chunk, held.length);
      }
      // Cut after the last byte that ends every sequence; without one, walk the sequences to find where the last starts.
      let end = bytes.length;
      while (end > 0 && !isBoundary(bytes[end - 1]!)) end--;
      if (bytes.length - end > 16) {
        while (end < bytes.length) {
          if (bytes[end]! < 0x80) {
            end++;
            continue;
          }
          const n = sequenceLength(bytes, end, bytes.length);
          if (n === 0) break;
          end += n;
        }
      }
      held = copyBytes(bytesView(bytes, end, bytes.length));
      return decodeWhole(bytes, end);
    },
    flush() {
      if (held.length === 0) return new Uint8ArrayCtor(0);
      const rest = held;
      held = new Uint8ArrayCtor(0);
      // A sequence cut by the end of the document decodes to U+FFFD; as markers, its bytes go out as they came.
      return utf8Encode(decodeWholeOrMarkers(rest));
    },
    encode(bytes) {
      const s = utf8.decode(bytes, box({ stream: true }));
      if (!hasMarkers(s)) return encodeWithReferences(s);
      const parts: Uint8Array[] = [];
      let total = 0;
      let i = 0;
      while (i < s.length) {
        const start = i;
        if (isMarker(stringCharCodeAt(s, i))) {
          while (i < s.length && isMarker(stringCharCodeAt(s, i))) i++;
          const raw = new Uint8ArrayCtor(i - start);
          for (let j = start; j < i; j++) raw[j - start] = stringCharCodeAt(s, j) - MARKER_BASE;
          parts[parts.length] = raw;
        } else {
          while (i < s.length && !isMarker(stringCharCodeAt(s, i))) i++;
          parts[parts.length] = encodeWithReferences(stringSlice(s, start, i));
        }
        total += parts[parts.length - 1]!.length;
      }
      const out = new Uint8ArrayCtor(total);
      let at = 0;
      for (let p = 0; p < parts.length; p++) {
        typedArraySet(out, parts[p]!, at);
        at += parts[p]!.length;
      }
      return out;
    },
    present(s) {
      return presentMarkers(s, decodeBytes);
    },
    canEncode(s) {
      return tryEncode(s) !== undefined;
    },
  };

  function decodeWholeOrMarkers(rest: Uint8Array): string {
    const text = roundTrip(rest, 0, rest.length);
    return text !== undefined ? text : markersOf(rest, 0, rest.length);
  }

  /** `s` encoded, each character the encoding lacks as `&#N;`: halves until the pieces encode (one failing character costs ~2 passes over `s`). */
  function encodeWithReferences(s: string): Uint8Array {
    const whole = tryEncode(s);
    if (whole !== undefined) return whole;
    const first = stringCharCodeAt(s, 0);
    const pair = s.length === 2 && first >= 0xd800 && first < 0xdc00;
    if (s.length === 1 || pair) {
      const cp = pair ? 0x10000 + ((first - 0xd800) << 10) + (stringCharCodeAt(s, 1) - 0xdc00) : first;
      return utf8Encode(`&#${cp};`);
    }
    let mid = s.length >> 1;
    const at = stringCharCodeAt(s, mid);
    // Never between the halves of a surrogate pair.
    if (at >= 0xdc00 && at < 0xe000 && mid > 0) mid--;
    if (mid === 0) mid = 2;
    const a = encodeWithReferences(stringSlice(s, 0, mid));
    const b = encodeWithReferences(stringSlice(s, mid));
    const out = new Uint8ArrayCtor(a.length + b.length);
    typedArraySet(out, a, 0);
    typedArraySet(out, b, a.length);
    return out;
  }
}

/** For each byte, how long the sequence it leads is at most in `encoding` (1 for ASCII and for bytes that lead nothing). */
function leadTable(encoding: string): Uint8Array {
  const t = new Uint8ArrayCtor(256);
  for (let b = 0; b < 256; b++) t[b] = 1;
  const range = (from: number, to: number, n: number): void => {
    for (let b = from; b <= to; b++) t[b] = n;
  };
  if (encoding === 'shift_jis') {
    range(0x81, 0x9f, 2);
    range(0xe0, 0xfc, 2);
  } else if (encoding === 'euc-jp') {
    range(0xa1, 0xfe, 2);
    t[0x8e] = 2;
    t[0x8f] = 3;
  } else if (encoding === 'gbk' || encoding === 'gb18030') {
    range(0x81, 0xfe, 4);
  } else {
    // euc-kr, big5
    range(0x81, 0xfe, 2);
  }
  return t;
}
