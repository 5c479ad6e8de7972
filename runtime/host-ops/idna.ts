// URL host processing for non-ASCII domains (runtime/webapi/idna.ts calls it):
// Node's ICU-backed UTS #46 instead of shipping tr46's ~2.9 MB of tables into
// every isolate (docs/web-platform-libs.md). '' means the domain is invalid.

import { domainToASCII, domainToUnicode } from 'node:url';
import type { HostOpSync } from './types.ts';

export const idna: HostOpSync = (payload) => {
  const { domain, toUnicode } = payload as { domain: string; toUnicode: boolean };
  return toUnicode ? domainToUnicode(String(domain)) : domainToASCII(String(domain));
};
