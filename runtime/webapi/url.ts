// URL and URLSearchParams from whatwg-url (the spec's reference implementation),
// loaded on first touch: parsing in JS is ~60× slower than native, so the
// runtime itself never parses a URL unless a worker asks (see request.ts).
// tr46 is swapped for idna.ts at build time.

import { defineGlobal, defineLazyGlobal } from './define.ts';
import { pristine } from './pristine.ts';

type WhatwgUrl = typeof import('whatwg-url');

// whatwg-url and webidl-conversions read SharedArrayBuffer.prototype at load to
// build brand checks. Contexts restored from the snapshot have the real one,
// but the context the snapshot is made in has none, and the warm-up script
// (snapshot-warmup.ts) loads whatwg-url there: it loads against a stand-in
// whose getters always throw, so "is this a SharedArrayBuffer?" answers no.
class NoSharedArrayBuffer {
  get byteLength(): number {
    throw new TypeError('not a SharedArrayBuffer');
  }
  get growable(): boolean {
    throw new TypeError('not a SharedArrayBuffer');
  }
}

let lib: WhatwgUrl | undefined;

export function whatwgUrl(): WhatwgUrl {
  if (lib !== undefined) return lib;
  if (typeof SharedArrayBuffer === 'function') {
    lib = pristine(() => require('whatwg-url') as WhatwgUrl);
    return lib;
  }
  defineGlobal('SharedArrayBuffer', NoSharedArrayBuffer);
  try {
    lib = require('whatwg-url') as WhatwgUrl;
  } finally {
    delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
  }
  return lib;
}

/**
 * whatwg-url's URL for libraries (urlpattern-polyfill), bound to their `URL`
 * at build time (runtime/prelude.ts) rather than the global a tenant may replace.
 */
export const LibraryURL = function URL(input: string, base?: string): globalThis.URL {
  return new (whatwgUrl().URL)(input, base);
} as unknown as typeof globalThis.URL;

export function isURLSearchParams(value: unknown): value is URLSearchParams {
  return lib !== undefined && value instanceof lib.URLSearchParams;
}

/** Parse `input` as an absolute URL (no base, as workers have no document); null on failure. */
export function parseAbsoluteURL(input: string): URL | null {
  const { URL } = whatwgUrl();
  try {
    return new URL(input);
  } catch {
    return null;
  }
}

defineLazyGlobal('URL', () => whatwgUrl().URL);
defineLazyGlobal('URLSearchParams', () => whatwgUrl().URLSearchParams);
