// The legacy multi-byte encodings of the Encoding standard, from @exodus/bytes:
// a lazy module (runtime/prelude.ts, LAZY_MODULES), loaded by an isolate's
// first TextDecoder, TextEncoder-like encoder (HTMLRewriter's) or
// TextDecoderStream for one of them (encoding.ts). Few workers decode
// Shift_JIS or GBK; every isolate carried this code before.

import { createMultibyteDecoder, createMultibyteEncoder } from '@exodus/bytes/multi-byte.js';
import { multibyteEncoder } from 'edgefn:exodus-multi-byte';
import type { MultiByte } from './encoding.ts';
import { provide } from './lazy.ts';

provide('multi-byte', { createMultibyteDecoder, createMultibyteEncoder, multibyteEncoder } satisfies MultiByte);
