// The Cache API (caches.default, caches.open) through a real node: entries in
// the node's cache.db, written by its isolate hosts, shared by both hosts,
// namespaced per function, bounded by EDGEFN_CACHE_MB, kept across a restart.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { startNode, type StartedNode } from '../helpers/node.ts';

// One worker driven by the query string: ?op=put|match|delete|aside|big|bad,
// &cache=<name> for caches.open(name) (default: caches.default), &h=<JSON
// response headers>, &body=<text> or &fill=<n> ('x' n times). The cache key is https://cache.test<path>;
// the incoming request's headers go with it (for Vary).
const WORKER = `export default { async fetch(request, env, ctx) {
  const url = new URL(request.url);
  const q = url.searchParams;
  const key = 'https://cache.test' + url.pathname;
  const cache = q.has('cache') ? await caches.open(q.get('cache')) : caches.default;
  const keyReq = new Request(key, { headers: request.headers });
  switch (q.get('op')) {
    case 'put': {
      const body = q.get('body') ?? (q.has('fill') ? 'x'.repeat(Number(q.get('fill'))) : 'v');
      await cache.put(keyReq, new Response(body, { status: Number(q.get('status') ?? 200), headers: JSON.parse(q.get('h') ?? '{}') }));
      return new Response('stored');
    }
    case 'match': {
      const method = q.get('method') ?? 'GET';
      const r = await cache.match(new Request(key, { method, headers: request.headers }), { ignoreMethod: q.has('ignoreMethod') });
      return r === undefined ? new Response('miss', { status: 404 }) : r;
    }
    case 'delete':
      return new Response(String(await cache.delete(key)));
    case 'aside': {
      const hit = await cache.match(key);
      if (hit !== undefined) return hit;
      const fresh = new Response('made at ' + Date.now(), { headers: { 'cache-control': 'max-age=600' } });
      ctx.waitUntil(cache.put(key, fresh.clone()));
      return fresh;
    }
    case 'big': {
      // A streamed body of n KB, each 64 KB chunk a fresh copy of one pattern.
      const chunks = Number(q.get('kb')) / 64;
      const pattern = new Uint8Array(65536).map((_, i) => (i * 7) & 255);
      let sent = 0;
      const body = new ReadableStream({ pull(c) { if (sent++ === chunks) c.close(); else c.enqueue(pattern.slice()); } });
      try {
        await cache.put(key, new Response(body, { headers: { 'cache-control': 'max-age=600', 'content-type': 'application/octet-stream' } }));
      } catch (e) {
        return new Response(e.constructor.name + ': ' + e.message, { status: 413 });
      }
      return new Response('stored');
    }
    case 'bad': {
      const out = [];
      for (const [req, res] of [
        [new Request(key, { method: 'POST' }), new Response('x')],
        [key, new Response('x', { status: 206 })],
        [key, new Response('x', { headers: { vary: 'Accept, *' } })],
      ]) {
        try { await cache.put(req, res); out.push('stored'); } catch (e) { out.push(e.constructor.name + ': ' + e.message); }
      }
      return Response.json(out);
    }
  }
  return new Response('unknown op', { status: 400 });
} }`;

const LIMITS = { cpuMs: 2000, wallMs: 60_000 };

function query(params: Record<string, string | Record<string, string>>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) q.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  return q.toString();
}

async function text(res: Response): Promise<{ status: number; body: string; hit: string | null }> {
  return { status: res.status, body: await res.text(), hit: res.headers.get('edgefn-cache') };
}

/** Poll until `check` holds (the cache has no clock to inject across processes); fails after `ms`. */
async function until(check: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
  return performance.now() - t0;
}

describe('the Cache API on a node', () => {
  let node: StartedNode;
  const put = (fn: string, path: string, params: Record<string, string | Record<string, string>> = {}, headers: Record<string, string> = {}) =>
    node.call(fn, `${path}?${query({ op: 'put', ...params })}`, { headers }).then(text);
  const match = (fn: string, path: string, params: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    node.call(fn, `${path}?${query({ op: 'match', ...params })}`, { headers }).then(text);

  beforeAll(async () => {
    node = await startNode();
    for (const name of ['cw', 'other']) expect((await node.deploy(name, { script: WORKER, limits: LIMITS })).status).toBeLessThan(300);
  });
  afterAll(() => node.close());

  it('serves a cache-aside worker: a miss, then HITs marked edgefn-cache: HIT with the same body', async () => {
    const first = await text(await node.call('cw', '/aside?op=aside'));
    expect(first.status).toBe(200);
    expect(first.hit).toBeNull();
    // The put runs in waitUntil, after the response: wait for it to land.
    let second = first;
    await until(async () => {
      second = await text(await node.call('cw', '/aside?op=aside'));
      return second.hit === 'HIT';
    }, 10_000);
    expect(second.body).toBe(first.body);
    const third = await text(await node.call('cw', '/aside?op=aside'));
    expect(third).toEqual(second);
  });

  it('returns undefined on a miss and for a non-GET match, unless ignoreMethod', async () => {
    expect((await match('cw', '/never')).status).toBe(404);
    await put('cw', '/m', { body: 'mm', h: { 'cache-control': 'max-age=600' } });
    expect(await match('cw', '/m')).toMatchObject({ status: 200, body: 'mm', hit: 'HIT' });
    expect((await match('cw', '/m', { method: 'POST' })).status).toBe(404);
    expect(await match('cw', '/m', { method: 'POST', ignoreMethod: '1' })).toMatchObject({ status: 200, body: 'mm' });
  });

  it('rejects puts of non-GET requests, 206 responses and Vary: * with TypeErrors, as workerd does', async () => {
    const res = await node.call('cw', '/bad?op=bad');
    expect(await res.json()).toEqual([
      'TypeError: Cannot cache response to non-GET request.',
      'TypeError: Cannot cache response to a range request (206 Partial Content).',
      "TypeError: Cannot cache response with 'Vary: *' header.",
    ]);
  });

  it('does not store no-store, private or Set-Cookie responses; private=Set-Cookie stores without the cookie', async () => {
    for (const [path, h] of [
      ['/ns', { 'cache-control': 'no-store, max-age=600' }],
      ['/priv', { 'cache-control': 'private, max-age=600' }],
      ['/cookie', { 'cache-control': 'max-age=600', 'set-cookie': 'a=1' }],
    ] as const) {
      expect((await put('cw', path, { h })).body).toBe('stored');
      expect((await match('cw', path)).status, path).toBe(404);
    }
    await put('cw', '/pc', { body: 'no cookie', h: { 'cache-control': 'private=Set-Cookie, max-age=600', 'set-cookie': 'a=1' } });
    const res = await node.call('cw', '/pc?op=match');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('max-age=600');
    expect(await res.text()).toBe('no cookie');
  });

  it('expires entries after max-age, s-maxage (which wins over max-age) and Expires', async () => {
    await put('cw', '/ttl-max', { h: { 'cache-control': 'max-age=1' } });
    await put('cw', '/ttl-s', { h: { 'cache-control': 'max-age=600, s-maxage=1' } });
    await put('cw', '/ttl-exp', { h: { expires: new Date(Date.now() + 2500).toUTCString() } });
    await put('cw', '/ttl-long', { h: { 'cache-control': 'max-age=600' } });
    for (const p of ['/ttl-max', '/ttl-s', '/ttl-exp']) expect((await match('cw', p)).status, p).toBe(200);
    // Each goes within a few seconds (TTL 1–2.5 s; generous for a loaded machine).
    for (const p of ['/ttl-max', '/ttl-s', '/ttl-exp']) await until(async () => (await match('cw', p)).status === 404, 15_000);
    expect((await match('cw', '/ttl-long')).status).toBe(200);
  });

  it('keeps one variant per value of the headers the response varies on', async () => {
    await put('cw', '/v', { body: 'english', h: { vary: 'Accept-Language', 'cache-control': 'max-age=600' } }, { 'accept-language': 'en' });
    await put('cw', '/v', { body: 'french', h: { vary: 'Accept-Language', 'cache-control': 'max-age=600' } }, { 'accept-language': 'fr' });
    expect((await match('cw', '/v', {}, { 'accept-language': 'en' })).body).toBe('english');
    expect((await match('cw', '/v', {}, { 'accept-language': 'fr' })).body).toBe('french');
    expect((await match('cw', '/v', {}, { 'accept-language': 'de' })).status).toBe(404);
    expect((await match('cw', '/v')).status).toBe(404);
  });

  it('answers a conditional match with 304 when the stored ETag or Last-Modified says not modified', async () => {
    const lastModified = 'Thu, 01 Jan 2026 00:00:00 GMT';
    await put('cw', '/cond', { body: 'full', h: { 'cache-control': 'max-age=600', etag: '"v1"', 'last-modified': lastModified } });
    expect(await match('cw', '/cond', {}, { 'if-none-match': '"v0", W/"v1"' })).toMatchObject({ status: 304, body: '', hit: 'HIT' });
    expect(await match('cw', '/cond', {}, { 'if-none-match': '"v2"' })).toMatchObject({ status: 200, body: 'full' });
    expect((await match('cw', '/cond', {}, { 'if-modified-since': lastModified })).status).toBe(304);
    expect((await match('cw', '/cond', {}, { 'if-modified-since': 'Wed, 31 Dec 2025 00:00:00 GMT' })).status).toBe(200);
  });

  it('deletes an entry (true), then finds nothing to delete (false)', async () => {
    await put('cw', '/d', { h: { 'cache-control': 'max-age=600' } });
    expect((await text(await node.call('cw', '/d?op=delete'))).body).toBe('true');
    expect((await match('cw', '/d')).status).toBe(404);
    expect((await text(await node.call('cw', '/d?op=delete'))).body).toBe('false');
  });

  it('keeps caches.open(name) caches apart from caches.default and from each other', async () => {
    await put('cw', '/n', { body: 'default', h: { 'cache-control': 'max-age=600' } });
    expect((await match('cw', '/n', { cache: 'x' })).status).toBe(404);
    await put('cw', '/n', { body: 'in x', cache: 'x', h: { 'cache-control': 'max-age=600' } });
    await put('cw', '/n', { body: 'in default-named', cache: 'default', h: { 'cache-control': 'max-age=600' } });
    expect((await match('cw', '/n')).body).toBe('default');
    expect((await match('cw', '/n', { cache: 'x' })).body).toBe('in x');
    expect((await match('cw', '/n', { cache: 'default' })).body).toBe('in default-named');
  });

  it('never shows one function the entries of another, for the same cache name and URL', async () => {
    await put('cw', '/iso', { body: 'cw', h: { 'cache-control': 'max-age=600' } });
    expect((await match('other', '/iso')).status).toBe(404);
    await put('other', '/iso', { body: 'other', h: { 'cache-control': 'max-age=600' } });
    expect((await match('cw', '/iso')).body).toBe('cw');
    expect((await match('other', '/iso')).body).toBe('other');
    expect((await text(await node.call('other', '/iso?op=delete'))).body).toBe('true');
    expect((await match('cw', '/iso')).body).toBe('cw');
  });

  it('streams a 20 MB body through put and match, byte for byte', async () => {
    expect((await text(await node.call('cw', '/big?op=big&kb=20480'))).body).toBe('stored');
    const pattern = new Uint8Array(65536).map((_, i) => (i * 7) & 255);
    const want = createHash('sha256');
    for (let i = 0; i < 320; i++) want.update(pattern);
    const res = await node.call('cw', '/big?op=match');
    expect(res.status).toBe(200);
    expect(res.headers.get('edgefn-cache')).toBe('HIT');
    const got = createHash('sha256');
    let n = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      got.update(chunk);
      n += chunk.byteLength;
    }
    expect(n).toBe(20 * 1024 * 1024);
    expect(got.digest('hex')).toBe(want.digest('hex'));
  });

  it('streams a body larger than the isolate\'s whole memory limit through put and match', async () => {
    // 40 MB through a 16 MB isolate: it can only work if neither side holds the body whole.
    expect((await node.deploy('small', { script: WORKER, limits: { ...LIMITS, memoryMb: 16 } })).status).toBeLessThan(300);
    expect(await node.call('small', '/huge?op=big&kb=40960').then(text)).toMatchObject({ status: 200, body: 'stored' });
    const res = await node.call('small', '/huge?op=match');
    expect(res.status).toBe(200);
    let n = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
    expect(n).toBe(40 * 1024 * 1024);
  });
});

describe('the Cache API bounds and durability', () => {
  it('evicts the least recently used entries past EDGEFN_CACHE_MB, and refuses bodies past EDGEFN_CACHE_ENTRY_MB', async () => {
    const node = await startNode({ env: { EDGEFN_CACHE_MB: '1', EDGEFN_CACHE_ENTRY_MB: '1' } });
    try {
      await node.deploy('lru', { script: WORKER, limits: LIMITS });
      const h = { 'cache-control': 'max-age=600' };
      const putBig = (path: string) => node.call('lru', `${path}?${query({ op: 'put', fill: String(300 * 1024), h })}`).then(text);
      const status = async (path: string) => (await node.call('lru', `${path}?op=match`).then(text)).status;
      await putBig('/a');
      await putBig('/b');
      // A hit records its use at most once a second (cache-store.ts): wait past that.
      await new Promise((r) => setTimeout(r, 1200));
      expect(await status('/a')).toBe(200);
      await putBig('/c');
      // a, b, c are ~900 KB; d takes the total past 1 MB, and b, used least recently, goes.
      await putBig('/d');
      expect(await status('/b')).toBe(404);
      for (const p of ['/a', '/c', '/d']) expect(await status(p), p).toBe(200);
      // EDGEFN_CACHE_ENTRY_MB: a 2 MB streamed body is refused part-way, and nothing of it stays.
      const big = await node.call('lru', '/big?op=big&kb=2048').then(text);
      expect(big.status).toBe(413);
      expect(big.body).toMatch(/^RangeError: .*per-entry limit of 1048576 bytes/);
      expect(await status('/big')).toBe(404);
    } finally {
      await node.close();
    }
  });

  it('keeps entries across a restart of the node', async () => {
    const node = await startNode();
    await node.deploy('keep', { script: WORKER, limits: LIMITS });
    await node.call('keep', `/k?${query({ op: 'put', body: 'kept', h: { 'cache-control': 'max-age=600' } })}`).then(text);
    await node.close({ keepData: true });
    const again = await startNode({ dataDir: node.dataDir });
    try {
      expect(await again.call('keep', '/k?op=match').then(text)).toMatchObject({ status: 200, body: 'kept', hit: 'HIT' });
    } finally {
      await again.close();
      rmSync(node.dataDir, { recursive: true, force: true });
    }
  });
});
