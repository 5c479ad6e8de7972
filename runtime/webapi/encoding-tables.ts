// Stand-in for @exodus/bytes' fallback/multi-byte.encodings.cjs (the prelude
// build swaps it for this file): the legacy multi-byte index tables come from
// the host ('encoding-tables' sync op, runtime/host-ops/encoding-tables.ts)
// on the first legacy CJK decoder an isolate makes, instead of from the
// snapshot, where every isolate would carry them.

import { host } from './bridge.ts';

export default function loadEncodings(): unknown {
  return JSON.parse(host().callSync('encoding-tables', null) as string);
}
