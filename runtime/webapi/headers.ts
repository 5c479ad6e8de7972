// Headers (Fetch §5.2). The header list is one flat array [name, value, name,
// value, …] with names lower-cased on the way in: lookups are a linear scan of
// a handful of short strings, which beats a Map at the sizes requests have, and
// the flat shape is exactly what crosses to the host (responseParts).
//
// Guards: only "immutable" is enforced. The "request"/"response" guards exist
// to keep browser pages from forging Cookie/Set-Cookie and friends; a server
// runtime must be able to set them (workerd and Deno do not enforce them either).

import { defineGlobal } from './define.ts';
import { apply, arrayPush, arraySort, copyArray, getOwnPropertyDescriptor, ownKeys, stringCharCodeAt, stringSlice, stringToLowerCase } from './intrinsics.ts';
import { sequenceFrom } from './webidl.ts';

const CONSTRUCT = "Failed to construct 'Headers'";

// Checked with loops over character codes rather than regular expressions:
// RegExp.prototype.test calls `exec` through the prototype, which a tenant
// can replace (intrinsics.ts).

// RFC 9110 tchar, by character code.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = stringCharCodeAt(s, i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

// After trimming, a value may not contain NUL, CR or LF (Fetch: "header value"),
// and as a WebIDL ByteString no code unit above U+00FF.
function isBadValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = stringCharCodeAt(v, i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) return true;
  }
  return false;
}

function isHttpWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function checkName(name: unknown, op: string): string {
  const n = String(name);
  if (!isToken(n)) throw new TypeError(`Headers.${op}: "${n}" is an invalid header name.`);
  return stringToLowerCase(n);
}

function normalizeValue(value: unknown, op: string): string {
  let v = String(value);
  const len = v.length;
  if (len > 0 && (isHttpWhitespace(stringCharCodeAt(v, 0)) || isHttpWhitespace(stringCharCodeAt(v, len - 1)))) {
    let start = 0;
    let end = len;
    while (start < end && isHttpWhitespace(stringCharCodeAt(v, start))) start++;
    while (end > start && isHttpWhitespace(stringCharCodeAt(v, end - 1))) end--;
    v = stringSlice(v, start, end);
  }
  if (isBadValue(v)) throw new TypeError(`Headers.${op}: "${v}" is an invalid header value.`);
  return v;
}

type HeaderPair = [string, string];

/** WebIDL ByteString: ToString (a Symbol throws TypeError), then no code unit above U+00FF. */
function toByteString(v: unknown): string {
  if (typeof v === 'symbol') throw new TypeError("Failed to construct 'Headers': Cannot convert a Symbol to a string.");
  const s = `${v as string}`;
  for (let i = 0; i < s.length; i++) {
    if (stringCharCodeAt(s, i) > 0xff) throw new TypeError(`Failed to construct 'Headers': "${s}" is not a valid ByteString.`);
  }
  return s;
}

type Init = HeadersInit | Headers;

/** Position of the first pair named `n` at or after `from`, or -1. */
function indexOfName(list: string[], n: string, from: number): number {
  for (let i = from; i < list.length; i += 2) if (list[i] === n) return i;
  return -1;
}

/** Drop the pairs named `n` from `from` on, moving the rest up; returns the new length. */
function compactWithout(list: string[], n: string, from: number): number {
  let w = from;
  for (let r = from; r < list.length; r += 2) {
    if (list[r] === n) continue;
    if (w !== r) {
      list[w] = list[r] as string;
      list[w + 1] = list[r + 1] as string;
    }
    w += 2;
  }
  return w;
}

/** The flat header list behind `h` (shared, not a copy). */
export let headerList: (h: Headers) => string[];
/** Headers over an already-valid flat list from the host; names are lower-cased here. */
export let headersFromFlat: (flat: string[], immutable: boolean) => Headers;
/** Headers that share nothing with `h`, with the given guard. */
export let copyHeaders: (h: Headers, immutable: boolean) => Headers;
/** Make `h` immutable (Response.error, Response.redirect). */
export let freezeHeaders: (h: Headers) => void;
/** Set `name` (lower-case, valid) unless present; used for body Content-Type defaults. */
export let setIfAbsent: (h: Headers, name: string, value: string) => void;
/** First value of lower-case `name` without validation or combining, or null. */
export let rawGet: (h: Headers, name: string) => string | null;

export class Headers implements globalThis.Headers {
  #list: string[] = [];
  #immutable = false;
  // Sorted-and-combined view for iteration; dropped on every mutation.
  #sorted: HeaderPair[] | null = null;

  constructor(init?: Init) {
    if (init === undefined) return;
    // A brand check, not instanceof: that would ask a proxy for its prototype,
    // a step WebIDL's conversion does not have.
    if (typeof init === 'object' && init !== null && #list in init) {
      this.#list = copyArray((init as Headers).#list);
      return;
    }
    if (init === null || (typeof init !== 'object' && typeof init !== 'function')) {
      throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
    }
    // WebIDL overload resolution for (sequence<sequence<ByteString>> or
    // record<ByteString, ByteString>): an object with a Symbol.iterator method
    // is the sequence. The whole argument is converted before anything is
    // appended, and header names and values are checked only while appending
    // (Fetch "fill"), so a proxy sees the spec's order of operations.
    const method = (init as { [Symbol.iterator]?: unknown })[Symbol.iterator];
    const pairs: string[] = [];
    if (method !== undefined && method !== null) {
      if (typeof method !== 'function') throw new TypeError("Failed to construct 'Headers': The object's Symbol.iterator is not callable.");
      const outer = sequenceFrom(init, method, CONSTRUCT);
      for (let i = 0; i < outer.length; i++) {
        const pair = outer[i];
        if (pair === null || (typeof pair !== 'object' && typeof pair !== 'function')) {
          throw new TypeError("Failed to construct 'Headers': The provided value cannot be converted to a sequence.");
        }
        const inner = sequenceFrom(pair, (pair as { [Symbol.iterator]?: unknown })[Symbol.iterator], CONSTRUCT);
        if (inner.length !== 2) throw new TypeError("Failed to construct 'Headers': Invalid value: each header must be a [name, value] pair.");
        arrayPush(pairs, toByteString(inner[0]), toByteString(inner[1]));
      }
    } else {
      // WebIDL "record<K, V>": [[OwnPropertyKeys]], then per key
      // [[GetOwnProperty]] and, for enumerable ones, the key's conversion
      // (a Symbol key throws here) and [[Get]].
      const keys = ownKeys(init);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string | symbol;
        const desc = getOwnPropertyDescriptor(init, key);
        if (desc === undefined || desc.enumerable !== true) continue;
        const name = toByteString(key);
        arrayPush(pairs, name, toByteString((init as Record<string | symbol, unknown>)[key]));
      }
    }
    for (let i = 0; i < pairs.length; i += 2) this.#append(pairs[i], pairs[i + 1], 'append');
  }

  #append(name: unknown, value: unknown, op: string): void {
    const n = checkName(name, op);
    const v = normalizeValue(value, op);
    if (this.#immutable) throw new TypeError('Headers are immutable.');
    arrayPush(this.#list, n, v);
    this.#sorted = null;
  }

  append(name: string, value: string): void {
    this.#append(name, value, 'append');
  }

  delete(name: string): void {
    const n = checkName(name, 'delete');
    if (this.#immutable) throw new TypeError('Headers are immutable.');
    const list = this.#list;
    const first = indexOfName(list, n, 0);
    if (first < 0) return;
    list.length = compactWithout(list, n, first);
    this.#sorted = null;
  }

  get(name: string): string | null {
    const n = checkName(name, 'get');
    const list = this.#list;
    let out: string | null = null;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === n) out = out === null ? (list[i + 1] as string) : `${out}, ${list[i + 1] as string}`;
    }
    return out;
  }

  getSetCookie(): string[] {
    const list = this.#list;
    const out: string[] = [];
    for (let i = 0; i < list.length; i += 2) if (list[i] === 'set-cookie') out[out.length] = list[i + 1] as string;
    return out;
  }

  has(name: string): boolean {
    const n = checkName(name, 'has');
    const list = this.#list;
    for (let i = 0; i < list.length; i += 2) if (list[i] === n) return true;
    return false;
  }

  set(name: string, value: string): void {
    const n = checkName(name, 'set');
    const v = normalizeValue(value, 'set');
    if (this.#immutable) throw new TypeError('Headers are immutable.');
    const list = this.#list;
    // Replace the first occurrence in place and drop the others (Fetch: "set").
    const first = indexOfName(list, n, 0);
    if (first < 0) arrayPush(list, n, v);
    else {
      list[first + 1] = v;
      if (indexOfName(list, n, first + 2) >= 0) list.length = compactWithout(list, n, first + 2);
    }
    this.#sorted = null;
  }

  #sortedAndCombined(): HeaderPair[] {
    if (this.#sorted !== null) return this.#sorted;
    const list = this.#list;
    // Positions of the pairs, sorted by name. Array.prototype.sort is stable,
    // so equal names keep the order they were added in, which is the order
    // their values combine in.
    const order: number[] = [];
    for (let i = 0; i < list.length; i += 2) order[order.length] = i;
    arraySort(order, (a, b) => {
      const x = list[a] as string;
      const y = list[b] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const out: HeaderPair[] = [];
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const n = list[i] as string;
      const v = list[i + 1] as string;
      const last = out[out.length - 1];
      // Set-Cookie values are never combined (Fetch: "sort and combine").
      if (last !== undefined && last[0] === n && n !== 'set-cookie') last[1] = `${last[1]}, ${v}`;
      else out[out.length] = [n, v];
    }
    this.#sorted = out;
    return out;
  }

  forEach(callback: (value: string, key: string, parent: globalThis.Headers) => void, thisArg?: unknown): void {
    if (typeof callback !== 'function') throw new TypeError("Failed to execute 'forEach' on 'Headers': parameter 1 is not of type 'Function'.");
    // WebIDL iterates the live list: re-read it each step so callbacks may mutate.
    for (let i = 0; ; i++) {
      const pair = this.#sortedAndCombined()[i];
      if (pair === undefined) return;
      apply(callback, thisArg, [pair[1], pair[0], this]);
    }
  }

  *entries(): HeadersIterator<[string, string]> {
    for (let i = 0; ; i++) {
      const pair = this.#sortedAndCombined()[i];
      if (pair === undefined) return;
      yield [pair[0], pair[1]];
    }
  }

  *keys(): HeadersIterator<string> {
    for (let i = 0; ; i++) {
      const pair = this.#sortedAndCombined()[i];
      if (pair === undefined) return;
      yield pair[0];
    }
  }

  *values(): HeadersIterator<string> {
    for (let i = 0; ; i++) {
      const pair = this.#sortedAndCombined()[i];
      if (pair === undefined) return;
      yield pair[1];
    }
  }

  [Symbol.iterator](): HeadersIterator<[string, string]> {
    return this.entries();
  }

  static {
    headerList = (h) => h.#list;
    headersFromFlat = (flat, immutable) => {
      const h = new Headers();
      const list = h.#list;
      for (let i = 0; i + 1 < flat.length; i += 2) arrayPush(list, stringToLowerCase(flat[i] as string), flat[i + 1] as string);
      h.#immutable = immutable;
      return h;
    };
    copyHeaders = (src, immutable) => {
      const h = new Headers();
      h.#list = copyArray(src.#list);
      h.#immutable = immutable;
      return h;
    };
    freezeHeaders = (h) => {
      h.#immutable = true;
    };
    setIfAbsent = (h, name, value) => {
      const list = h.#list;
      for (let i = 0; i < list.length; i += 2) if (list[i] === name) return;
      arrayPush(list, name, value);
      h.#sorted = null;
    };
    rawGet = (h, name) => {
      const list = h.#list;
      for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1] as string;
      return null;
    };
  }
}
Object.defineProperty(Headers.prototype, Symbol.toStringTag, { value: 'Headers', configurable: true });

defineGlobal('Headers', Headers);
