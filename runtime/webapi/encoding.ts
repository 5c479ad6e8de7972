// TextEncoder / TextDecoder from @exodus/bytes: conformant on labels, BOM
// handling, fatal mode, U+FFFD replacement, streaming decode and encodeInto,
// and every legacy encoding of the Encoding standard; the multi-byte CJK
// decoders' tables come from the host on first use (encoding-tables.ts).
// Installed eagerly: whatwg-url needs them when it loads, and most workers use them.

import { TextDecoder, TextEncoder } from '@exodus/bytes/encoding.js';
import { defineGlobal } from './define.ts';

export { TextDecoder, TextEncoder };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 encode (lone surrogates become U+FFFD), as the Encoding standard's "UTF-8 encode". */
export function utf8Encode(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s);
}

/** UTF-8 decode with BOM stripping and replacement, as the Encoding standard's "UTF-8 decode". */
export function utf8Decode(b: Uint8Array): string {
  return decoder.decode(b);
}

defineGlobal('TextEncoder', TextEncoder);
defineGlobal('TextDecoder', TextDecoder);
