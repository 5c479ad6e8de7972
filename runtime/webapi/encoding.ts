// TextEncoder / TextDecoder from @exodus/bytes: conformant on labels, BOM
// handling, fatal mode, U+FFFD replacement, streaming decode and encodeInto,
// and every legacy encoding of the Encoding standard. The multi-byte CJK
// encodings (gbk, gb18030, big5, shift_jis, euc-jp, euc-kr, iso-2022-jp) are
// a lazy module (multi-byte.ts, lazy.ts), loaded by an isolate's first
// decoder or encoder for one of them, and their tables come from the host
// then (encoding-tables.ts).
// Installed eagerly: whatwg-url needs them when it loads, and most workers use them.

import { setMultibyte, TextDecoder, TextEncoder } from 'edgefn:exodus-encoding';
import { defineGlobal } from './define.ts';
import { required } from './lazy.ts';

export { TextDecoder, TextEncoder };

type Decode = (bytes: Uint8Array, stream?: boolean) => string;
type Encode = (s: string) => Uint8Array;
/** What the multi-byte module (multi-byte.ts) provides. */
export interface MultiByte {
  createMultibyteDecoder(encoding: string, loose?: boolean): Decode;
  createMultibyteEncoder(encoding: string): Encode;
  /** The encoder @exodus/bytes' TextDecoder hook takes. */
  multibyteEncoder(encoding: string, onError?: unknown): Encode;
}

function loadedMultiByte(): MultiByte {
  return required<MultiByte>('multi-byte');
}

/** A decoder for a multi-byte encoding (`loose`: U+FFFD for what is malformed). */
export function multiByteDecoder(encoding: string, loose = false): Decode {
  return loadedMultiByte().createMultibyteDecoder(encoding, loose);
}

/** A strict encoder for a multi-byte encoding (throws on what it lacks). */
export function multiByteEncoder(encoding: string): Encode {
  return loadedMultiByte().createMultibyteEncoder(encoding);
}

setMultibyte(multiByteDecoder, (encoding: string, onError?: unknown) => loadedMultiByte().multibyteEncoder(encoding, onError));

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
