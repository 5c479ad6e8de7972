// Gradual rollout: which version of a function serves each request. A
// function's routing is its current version and, during a rollout, a split of
// its traffic between versions by percent, optionally sticky per client (the
// same header or cookie value always lands on the same version).
//
// Two halves: checking what the control API is sent (parse*), and the
// per-request choice an isolate host makes (TrafficSplit), which has to stay
// as cheap as the Map lookup it sits beside.

import type { IncomingHttpHeaders } from 'node:http';
import { EdgefnError } from '../runtime/index.ts';
import type { StickyKey, TrafficShare } from '../sdk/wire.ts';

/** A function's routing as the store keeps it. */
export interface Routing {
  current: number;
  /** The version current before `current`: where a rollback with no version goes. */
  previous: number | null;
  /** null: every request goes to `current`. */
  traffic: TrafficShare[] | null;
  sticky: StickyKey | null;
}

/** The versions a routing sends requests to (the warm isolates worth keeping). */
export function servedVersions(r: Routing): number[] {
  return r.traffic === null ? [r.current] : r.traffic.map((s) => s.version);
}

/** The split as the API shows it: one share of 100 % when there is none. */
export function shares(r: Routing): TrafficShare[] {
  return r.traffic ?? [{ version: r.current, percent: 100 }];
}

// RFC 9110 token: what a header or cookie name may be made of.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Shares sum to 100 up to this, so that 33.33 + 33.33 + 33.34 passes. */
const SUM_EPSILON = 1e-6;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A share in percent: more than 0, at most 100. */
export function parsePercent(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 100) {
    throw new EdgefnError('ERR_INVALID_INPUT', `${field} must be a number of percent above 0 and at most 100, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A version number as a request names it. */
export function parseVersion(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new EdgefnError('ERR_INVALID_INPUT', `${field} must be a version number (an integer from 1), got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * `"traffic": [{ "version": 7, "percent": 90 }, { "version": 8, "percent": 10 }]`:
 * each version once, shares summing to 100. Whether the versions exist is the
 * store's to say.
 */
export function parseTraffic(value: unknown): TrafficShare[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new EdgefnError('ERR_INVALID_INPUT', '"traffic" must be a non-empty array like [{ "version": 7, "percent": 90 }, { "version": 8, "percent": 10 }]');
  }
  const out: TrafficShare[] = [];
  const seen = new Set<number>();
  for (const [i, item] of value.entries()) {
    if (!isObject(item)) throw new EdgefnError('ERR_INVALID_INPUT', `"traffic"[${i}] must be an object like { "version": 7, "percent": 90 }`);
    for (const k of Object.keys(item)) if (k !== 'version' && k !== 'percent') throw new EdgefnError('ERR_INVALID_INPUT', `"traffic"[${i}] has unknown field "${k}" (known: version, percent)`);
    const version = parseVersion(item['version'], `"traffic"[${i}].version`);
    const percent = parsePercent(item['percent'], `"traffic"[${i}].percent`);
    if (seen.has(version)) throw new EdgefnError('ERR_INVALID_INPUT', `"traffic" names version ${version} more than once`);
    seen.add(version);
    out.push({ version, percent });
  }
  const sum = out.reduce((a, s) => a + s.percent, 0);
  if (Math.abs(sum - 100) > SUM_EPSILON) throw new EdgefnError('ERR_INVALID_INPUT', `"traffic" percentages must sum to 100; they sum to ${Math.round(sum * 1e6) / 1e6}`);
  return out;
}

/** `{ "header": "x-user" }` or `{ "cookie": "uid" }`; null or absent: not sticky. */
export function parseSticky(value: unknown): StickyKey | null {
  if (value === undefined || value === null) return null;
  const keys = isObject(value) ? Object.keys(value) : [];
  if (!isObject(value) || keys.length !== 1 || (keys[0] !== 'header' && keys[0] !== 'cookie')) {
    throw new EdgefnError('ERR_INVALID_INPUT', '"sticky" must be { "header": "<name>" } or { "cookie": "<name>" }');
  }
  const kind = keys[0] as 'header' | 'cookie';
  const name = value[kind];
  if (typeof name !== 'string' || !TOKEN.test(name)) throw new EdgefnError('ERR_INVALID_INPUT', `"sticky".${kind} must be a ${kind} name (1 to 128 token characters), got ${JSON.stringify(name)}`);
  return kind === 'header' ? { header: name.toLowerCase() } : { cookie: name };
}

/** One version a request can be sent to, with its `edgefn-version` value made once. */
export interface VersionTarget {
  name: string;
  version: number;
  header: string;
}

export function versionTarget(name: string, version: number): VersionTarget {
  return { name, version, header: String(version) };
}

/** The inverse golden ratio: steps of it around [0, 1) never line up with a period. */
const WEYL_STEP = 0.6180339887498949;

/**
 * Chooses a version per request. Without a sticky key, a Weyl sequence
 * (x ← x + 1/φ mod 1) walks the shares: deterministic, and over any n
 * requests each share is hit within O(log n) of its exact count, so 10 %
 * means 10 % after a few hundred requests, not "10 % on average" as a random
 * draw would. With one, a hash of the key's value picks the same point for the
 * same client every time.
 */
export class TrafficSplit {
  readonly #targets: VersionTarget[];
  /** Cumulative upper bounds in [0, 1], one per target; the last is exactly 1. */
  readonly #bounds: number[];
  readonly #header: string | undefined;
  readonly #cookie: string | undefined;
  #x = 0;

  constructor(name: string, traffic: readonly TrafficShare[], sticky: StickyKey | null) {
    this.#targets = traffic.map((s) => versionTarget(name, s.version));
    let acc = 0;
    this.#bounds = traffic.map((s) => (acc += s.percent) / 100);
    this.#bounds[this.#bounds.length - 1] = 1;
    this.#header = sticky !== null && 'header' in sticky ? sticky.header : undefined;
    this.#cookie = sticky !== null && 'cookie' in sticky ? sticky.cookie : undefined;
  }

  pick(headers: IncomingHttpHeaders): VersionTarget {
    const key = this.#header !== undefined ? headerValue(headers[this.#header]) : this.#cookie !== undefined ? cookieValue(headers.cookie, this.#cookie) : undefined;
    let x: number;
    if (key !== undefined) x = hashToUnit(key);
    else {
      x = this.#x + WEYL_STEP;
      if (x >= 1) x -= 1;
      this.#x = x;
    }
    const b = this.#bounds;
    for (let i = 0; i < b.length - 1; i++) if (x < b[i]!) return this.#targets[i]!;
    return this.#targets[b.length - 1]!;
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4: `a=1; b=2`). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * FNV-1a over the key's UTF-16 code units, then murmur3's finalizer so that
 * keys differing in their last character ("user-1", "user-2") spread over the
 * whole range; mapped to [0, 1).
 */
export function hashToUnit(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
