// How document bytes that have no one-to-one character travel through
// lol-html. html-rewriter-wasm's lol-html is fixed to UTF-8, so a document in
// another encoding is transcoded to UTF-8 on the way in and back on the way
// out (html-rewriter-charset.ts, html-rewriter-multibyte.ts). A byte sequence
// that would not come back out as the same bytes (a byte the encoding leaves
// unmapped, an invalid sequence, a character whose encoder picks other bytes)
// goes through as one private-use character per byte, U+F700 + byte, a
// "marker", and the way out turns each marker back into its byte: content no
// handler touched is passed on byte for byte, as lol-html does natively.
// Handlers never see markers: every string lol-html hands them is shown as
// the document's decoder reads those bytes (U+FFFD for an invalid sequence).
// The cost: a U+F700–U+F7FF character a handler inserts comes out as the byte
// it names (x-user-defined decodes bytes 0x80–0xFF to exactly these).

import { stringCharCodeAt, stringFromCharCode, stringSlice, Uint8ArrayCtor } from './intrinsics.ts';

/** Transcodes one document's bytes to UTF-8 and back (one instance per transform: both ways keep state between chunks). */
export interface Transcoder {
  /** Document bytes → UTF-8 for lol-html (a sequence cut at the chunk's end waits for the next chunk). */
  decode(bytes: Uint8Array): Uint8Array;
  /** The end of the document: what decode held back, as markers. */
  flush(): Uint8Array;
  /** lol-html's UTF-8 → document bytes; characters the encoding lacks as `&#N;`. */
  encode(bytes: Uint8Array): Uint8Array;
  /** `s` from lol-html as a handler sees it: its markers decoded as the document's decoder decodes their bytes. */
  present(s: string): string;
  /** Whether every character of `s` has an encoding (lol-html refuses comment text that has not). */
  canEncode(s: string): boolean;
}

/** First code point of the private-use characters that carry bytes. */
export const MARKER_BASE = 0xf700;

/** The character of a BMP code point. */
export function fromCharCodeOf(code: number): string {
  return stringFromCharCode(code);
}

export function isMarker(code: number): boolean {
  return code >= MARKER_BASE && code <= MARKER_BASE + 0xff;
}

export function hasMarkers(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isMarker(stringCharCodeAt(s, i))) return true;
  return false;
}

/** The markers of one byte sequence. */
export function markersOf(bytes: ArrayLike<number>, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += stringFromCharCode(MARKER_BASE + bytes[i]!);
  return s;
}

/** `s` with every run of markers replaced by `decode` of its bytes. */
export function presentMarkers(s: string, decode: (bytes: Uint8Array) => string): string {
  if (!hasMarkers(s)) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const start = i;
    if (!isMarker(stringCharCodeAt(s, i))) {
      while (i < s.length && !isMarker(stringCharCodeAt(s, i))) i++;
      out += stringSlice(s, start, i);
      continue;
    }
    while (i < s.length && isMarker(stringCharCodeAt(s, i))) i++;
    const bytes = new Uint8ArrayCtor(i - start);
    for (let j = start; j < i; j++) bytes[j - start] = stringCharCodeAt(s, j) - MARKER_BASE;
    out += decode(bytes);
  }
  return out;
}
