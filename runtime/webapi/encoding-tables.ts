// Stand-in for @exodus/bytes' fallback/multi-byte.table.js (the prelude build
// swaps it for this file): the legacy multi-byte index tables come from the
// host, unpacked ('encoding-tables' sync op, runtime/host-ops/encoding-tables.ts),
// one table on its first use in this isolate, instead of being unpacked here
// from the library's compressed JSON, or carried in the snapshot by every
// isolate when few workers ever meet a legacy CJK encoding.

import { host } from './bridge.ts';
import { SafeMap } from './intrinsics.ts';

const tables = new SafeMap<string, unknown>();

export function getTable(id: string): unknown {
  let table = tables.get(id);
  if (table === undefined) {
    table = host().callSync('encoding-tables', id);
    tables.set(id, table);
  }
  return table;
}
