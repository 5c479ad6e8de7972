// The index tables of the legacy multi-byte encodings (gb18030, gbk, big5,
// euc-jp, iso-2022-jp, shift_jis, euc-kr) for TextDecoder, TextEncoder's
// HTMLRewriter counterpart and the rest in the isolate
// (runtime/webapi/encoding-tables.ts). @exodus/bytes keeps them as 152 KB of
// compressed JSON that it unpacks on a table's first use. Unpacked in every
// isolate that met a legacy encoding, that cost a fresh isolate 6-14 ms (the
// JSON parse of every encoding's tables, then the unpacking of one, in code
// the isolate had never run), charged to the request that met it: with
// HTMLRewriter's first run, enough to fail a Shift_JIS page's first request at
// the default 50 ms. So the host unpacks each table once per process, with
// @exodus/bytes' own code, and hands an isolate the finished typed array (a
// copy of at most 77 KB); the isolate keeps it for its life.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostOpSync } from './types.ts';

/** The tables @exodus/bytes' multi-byte codecs ask for (fallback/multi-byte.js's getTable calls). */
export const ENCODING_TABLE_IDS: ReadonlySet<string> = new Set(['jis0208', 'jis0212', 'euc-kr', 'gb18030', 'gb18030-ranges', 'big5', 'iso-2022-jp-katakana']);

type GetTable = (id: string) => Uint16Array | Uint32Array | number[][];
let getTable: GetTable | undefined;

export const encodingTables: HostOpSync = (payload) => {
  if (typeof payload !== 'string' || !ENCODING_TABLE_IDS.has(payload)) throw new TypeError(`no multi-byte encoding table named ${String(payload)}`);
  // Loaded on the first ask (~18 ms), not with the runtime: most processes
  // never meet a legacy CJK encoding. Not among the package's exports, so
  // required by path (synchronously: this is a sync op).
  getTable ??= (createRequire(import.meta.url)(join(dirname(fileURLToPath(import.meta.resolve('@exodus/bytes/multi-byte.js'))), 'fallback', 'multi-byte.table.js')) as { getTable: GetTable }).getTable;
  return getTable(payload);
};
