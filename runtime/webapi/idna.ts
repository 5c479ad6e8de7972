// Stand-in for the tr46 package inside whatwg-url (the prelude build aliases
// `tr46` to this file). tr46's UTS #46 tables cost ~2.9 MB on every isolate's
// heap; the host already has them (node:url domainToASCII/domainToUnicode), so
// only hosts that need them cross the bridge.

import { host } from './bridge.ts';

// URL §3.3 "domain to ASCII": when beStrict is false, the domain is ASCII and
// no label starts with "xn--", the whole algorithm is ASCII lower-casing. That
// covers nearly every host a worker sees, at no bridge cost. whatwg-url never
// asks for beStrict, so the options are not consulted.
const NEEDS_UTS46 = /[^\x00-\x7f]|(?:^|\.)xn--/i;

export function toASCII(domain: string): string | null {
  if (!NEEDS_UTS46.test(domain)) return domain.toLowerCase();
  const out = host().callSync('idna', { domain, toUnicode: false });
  // node:url reports failure as ''; tr46 (and so whatwg-url) as null.
  return typeof out === 'string' && out !== '' ? out : null;
}

export function toUnicode(domain: string): { domain: string; error: boolean } {
  if (!NEEDS_UTS46.test(domain)) return { domain: domain.toLowerCase(), error: false };
  const out = host().callSync('idna', { domain, toUnicode: true });
  return typeof out === 'string' && out !== '' ? { domain: out, error: false } : { domain, error: true };
}
