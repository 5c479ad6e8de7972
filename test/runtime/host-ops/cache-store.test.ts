// The Cache API's store and store policy, without isolates: a clock injected,
// two CacheStore objects on one file standing in for two isolate hosts.

import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheStore, CHUNK_BYTES, type NewEntry } from '../../../runtime/host-ops/cache-store.ts';
import { storePolicy, varyNames } from '../../../runtime/host-ops/cache-policy.ts';

const dirs: string[] = [];
const stores: CacheStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function file(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgefn-cache-'));
  dirs.push(d);
  return join(d, 'cache.db');
}

function open(path: string, options: { maxBytes?: number; maxEntryBytes?: number; now?: () => number } = {}): CacheStore {
  const s = new CacheStore(path, { maxBytes: options.maxBytes ?? 64 * 1024 * 1024, maxEntryBytes: options.maxEntryBytes ?? 16 * 1024 * 1024, ...(options.now ? { now: options.now } : {}) });
  stores.push(s);
  return s;
}

function entry(url: string, extra: Partial<NewEntry> = {}): NewEntry {
  return { ns: '["fn",null]', url, vary: [], variant: [], status: 200, statusText: 'OK', headers: ['content-type', 'text/plain'], expires: Number.MAX_SAFE_INTEGER, ...extra };
}

/** Store `body` under `url` as a put does: begin, chunks, commit. */
function store(s: CacheStore, url: string, body: Uint8Array, extra: Partial<NewEntry> = {}): number {
  const id = s.begin(entry(url, extra));
  for (let seq = 0, at = 0; at < body.byteLength; seq++, at += CHUNK_BYTES) s.append(id, seq, body.subarray(at, at + CHUNK_BYTES));
  s.commit(id);
  return id;
}

const none = (): null => null;

/** The stored body's length, read back chunk by chunk; undefined on a miss. */
function bodyLength(s: CacheStore, url: string, header: (name: string) => string | null = none): number | undefined {
  const e = s.lookup('["fn",null]', url, header);
  if (e === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < e.chunks; i++) n += s.chunk(e.id, i)!.byteLength;
  return n;
}

describe('CacheStore', () => {
  it('hides an entry until its put commits, and forgets an aborted one with its bytes', () => {
    const s = open(file());
    const id = s.begin(entry('https://x/a'));
    s.append(id, 0, new Uint8Array(1000));
    expect(s.lookup('["fn",null]', 'https://x/a', none)).toBeUndefined();
    const during = s.usage();
    expect(during).toBeGreaterThan(1000);
    s.abort(id);
    expect(s.usage()).toBe(0);
  });

  it('misses once the clock passes an entry\'s expiry', () => {
    let now = 1_000_000;
    const s = open(file(), { now: () => now });
    store(s, 'https://x/t', new Uint8Array([1, 2, 3]), { expires: now + 1000 });
    expect(bodyLength(s, 'https://x/t')).toBe(3);
    now += 1000;
    expect(s.lookup('["fn",null]', 'https://x/t', none)).toBeUndefined();
  });

  it('evicts expired entries first, then the least recently used, to stay under maxBytes', () => {
    let now = 1_000_000;
    const s = open(file(), { maxBytes: 3 * 100_000, now: () => now });
    const body = new Uint8Array(90_000);
    store(s, 'https://x/old', body, { expires: now + 500 });
    now += 10;
    store(s, 'https://x/a', body);
    now += 10;
    store(s, 'https://x/b', body);
    now += 1000;
    // /old is expired although /a was used less recently than /b: it goes first.
    store(s, 'https://x/c', body);
    expect(s.usage()).toBeLessThanOrEqual(3 * 100_000);
    const alive = (u: string): boolean => s.lookup('["fn",null]', u, none) !== undefined;
    expect([alive('https://x/a'), alive('https://x/b'), alive('https://x/c')]).toEqual([true, true, true]);
    now += 2000;
    // A hit on /a (more than a second after its last use) makes /b the least recently used.
    expect(alive('https://x/a')).toBe(true);
    store(s, 'https://x/d', body);
    expect([alive('https://x/a'), alive('https://x/b'), alive('https://x/c'), alive('https://x/d')]).toEqual([true, false, true, true]);
  });

  it('keeps one variant per Vary value, and a new Vary replaces the old variants', () => {
    const s = open(file());
    const lang = (v: string | null) => (name: string) => (name === 'accept-language' ? v : null);
    store(s, 'https://x/v', new Uint8Array([1]), { vary: ['accept-language'], variant: ['en'] });
    store(s, 'https://x/v', new Uint8Array([2, 2]), { vary: ['accept-language'], variant: ['fr'] });
    store(s, 'https://x/v', new Uint8Array([3, 3, 3]), { vary: ['accept-language'], variant: ['en'] });
    expect(bodyLength(s, 'https://x/v', lang('en'))).toBe(3);
    expect(bodyLength(s, 'https://x/v', lang('fr'))).toBe(2);
    expect(s.lookup('["fn",null]', 'https://x/v', lang(null))).toBeUndefined();
    store(s, 'https://x/v', new Uint8Array(4), { vary: ['accept-encoding'], variant: ['gzip'] });
    expect(s.lookup('["fn",null]', 'https://x/v', lang('fr'))).toBeUndefined();
    expect(s.delete('["fn",null]', 'https://x/v')).toBe(true);
    expect(s.delete('["fn",null]', 'https://x/v')).toBe(false);
  });

  it('reads a body whole from its snapshot while another store replaces and deletes the entry', () => {
    const path = file();
    const a = open(path);
    const b = open(path);
    const body = new Uint8Array(3 * CHUNK_BYTES + 10).map((_, i) => i & 255);
    store(a, 'https://x/big', body);
    const found = a.lookup('["fn",null]', 'https://x/big', none)!;
    expect(found.chunks).toBe(4);
    const reader = a.snapshotReader(found.id)!;
    store(b, 'https://x/big', new Uint8Array(5));
    b.delete('["fn",null]', 'https://x/big');
    const parts: Uint8Array[] = [];
    for (let i = 0; i < reader.chunks; i++) parts.push(reader.chunk(i)!);
    reader.close();
    expect(Buffer.concat(parts).equals(Buffer.from(body))).toBe(true);
    expect(a.lookup('["fn",null]', 'https://x/big', none)).toBeUndefined();
  });

  it('recover() drops puts a crash left unfinished and recounts the bytes', () => {
    const path = file();
    const s = open(path);
    store(s, 'https://x/kept', new Uint8Array(100));
    const kept = s.usage();
    const half = s.begin(entry('https://x/half'));
    s.append(half, 0, new Uint8Array(5000));
    s.close();
    const again = open(path);
    again.recover();
    expect(again.usage()).toBe(kept);
    expect(bodyLength(again, 'https://x/kept')).toBe(100);
  });

  it('dropStale() drops only unfinished puts older than the given age', () => {
    let now = 1_000_000;
    const s = open(file(), { now: () => now });
    const old = s.begin(entry('https://x/old'));
    s.append(old, 0, new Uint8Array(700));
    now += 60_000;
    const fresh = s.begin(entry('https://x/fresh'));
    s.append(fresh, 0, new Uint8Array(300));
    const withBoth = s.usage();
    s.dropStale(30_000);
    expect(withBoth - s.usage()).toBeGreaterThanOrEqual(700);
    s.append(fresh, 1, new Uint8Array(1));
    s.commit(fresh);
    expect(bodyLength(s, 'https://x/fresh')).toBe(301);
    // The dropped put's owner, if it were still writing, is told so and leaves no chunk behind.
    const held = s.usage();
    expect(() => s.append(old, 1, new Uint8Array(10))).toThrow(/dropped/);
    expect(s.usage()).toBe(held);
  });

  it('refuses options that are not positive integers, naming them', () => {
    expect(() => new CacheStore(file(), { maxBytes: 0, maxEntryBytes: 1 })).toThrow(/maxBytes/);
  });
});

describe('storePolicy', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('takes s-maxage over max-age, then Expires against Date, then the default edge TTL for the status', () => {
    expect(storePolicy(200, ['cache-control', 'max-age=60, s-maxage=5'], now)?.ttlMs).toBe(5000);
    expect(storePolicy(200, ['Cache-Control', 'public, max-age=60'], now)?.ttlMs).toBe(60_000);
    expect(storePolicy(200, ['expires', 'Thu, 01 Jan 2026 00:00:30 GMT', 'date', 'Thu, 01 Jan 2026 00:00:10 GMT'], now)?.ttlMs).toBe(20_000);
    expect(storePolicy(200, ['expires', '0'], now)).toBeUndefined();
    expect(storePolicy(200, [], now)?.ttlMs).toBe(7_200_000);
    expect(storePolicy(404, [], now)?.ttlMs).toBe(180_000);
    expect(storePolicy(500, [], now)).toBeUndefined();
    expect(storePolicy(200, ['cache-control', 'max-age=0'], now)).toBeUndefined();
  });

  it('stores nothing under no-store, no-cache, private or Set-Cookie; private=Set-Cookie drops the cookies', () => {
    for (const cc of ['no-store', 'no-cache', 'private', 'private="x-user"']) expect(storePolicy(200, ['cache-control', `${cc}, max-age=60`], now), cc).toBeUndefined();
    expect(storePolicy(200, ['cache-control', 'max-age=60', 'set-cookie', 'a=1'], now)).toBeUndefined();
    const p = storePolicy(200, ['cache-control', 'private="Set-Cookie", max-age=60', 'set-cookie', 'a=1', 'etag', '"1"'], now);
    expect(p).toEqual({ headers: ['etag', '"1"', 'cache-control', 'max-age=60'], ttlMs: 60_000 });
  });

  it('lists Vary names lowercased, sorted and once', () => {
    expect(varyNames(['vary', 'Accept-Language, accept-encoding', 'Vary', 'ACCEPT-language'])).toEqual(['accept-encoding', 'accept-language']);
  });
});
