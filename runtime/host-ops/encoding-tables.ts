// The index tables of the legacy multi-byte encodings (gb18030, gbk, big5,
// euc-jp, iso-2022-jp, shift_jis, euc-kr) for TextDecoder in the isolate
// (runtime/webapi/encoding-tables.ts). @exodus/bytes keeps them as 152 KB of
// compressed JSON that it unpacks on a decoder's first use; in the snapshot
// that JSON would sit on every isolate's heap, and few workers ever decode a
// legacy CJK encoding. Read from disk once per process, on first ask; handed
// over as the JSON text, which the isolate parses once.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostOpSync } from './types.ts';

let json: string | undefined;

export const encodingTables: HostOpSync = () => {
  json ??= readFileSync(join(dirname(fileURLToPath(import.meta.resolve('@exodus/bytes/multi-byte.js'))), 'fallback', 'multi-byte.encodings.json'), 'utf8');
  return json;
};
