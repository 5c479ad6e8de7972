// The data: URL processor (Fetch §4.6, "data: URLs"), which fetch() runs in
// the isolate for a data: URL instead of asking the host: the bytes are in
// the URL already.

import { atob } from './base64.ts';
import { parseMimeType, serializeMimeType } from './mime-type.ts';

export interface DataUrl {
  /** The MIME type, serialized (text/plain;charset=US-ASCII when the URL's does not parse). */
  mimeType: string;
  body: Uint8Array<ArrayBuffer>;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** URL "percent-decode" of a string whose code points are all ASCII (a serialized URL's are). */
function percentDecode(s: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        out[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c & 0xff;
  }
  return out.slice(0, n);
}

// ";" then spaces then "base64", case-insensitively, at the end.
const BASE64_SUFFIX = /;[\x20]*base64$/i;

/** `href` is a serialized data: URL; returns null where the spec says failure. */
export function processDataUrl(href: string): DataUrl | null {
  // The URL serializer with "exclude fragment": drop everything from '#'.
  const hash = href.indexOf('#');
  const input = (hash < 0 ? href : href.slice(0, hash)).slice('data:'.length);
  const comma = input.indexOf(',');
  if (comma < 0) return null;
  let mimeType = input.slice(0, comma).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '');
  let body = percentDecode(input.slice(comma + 1));
  if (BASE64_SUFFIX.test(mimeType)) {
    // Isomorphic decode, then forgiving-base64 decode.
    let text = '';
    for (let i = 0; i < body.length; i++) text += String.fromCharCode(body[i] as number);
    let decoded: string;
    try {
      decoded = atob(text);
    } catch {
      return null;
    }
    body = new Uint8Array(decoded.length);
    for (let i = 0; i < decoded.length; i++) body[i] = decoded.charCodeAt(i);
    mimeType = mimeType.slice(0, -'base64'.length).replace(/\x20+$/, '').slice(0, -1);
  }
  if (mimeType.startsWith(';')) mimeType = `text/plain${mimeType}`;
  const parsed = parseMimeType(mimeType);
  return { mimeType: parsed === null ? 'text/plain;charset=US-ASCII' : serializeMimeType(parsed), body };
}
