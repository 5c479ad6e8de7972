// The Cache API in a cache-aside worker: a miss makes the response and puts
// it, a later request is answered from the cache. Also what put refuses and
// what it does not store, delete's answer, and caches.open(name) apart from
// caches.default. Keys are https://cache.test/<path>, never fetched.

// Workers' CacheStorage adds `default`, which the Web (webworker) types lack.
const workerCaches = caches as CacheStorage & { readonly default: Cache };

async function report(cache: Cache, key: string): Promise<Response> {
  const hit = await cache.match(key);
  if (hit === undefined) return Response.json({ hit: false });
  return Response.json({ hit: true, status: hit.status, body: await hit.text(), type: hit.headers.get('content-type'), cacheControl: hit.headers.get('cache-control') });
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const key = `https://cache.test${url.pathname}`;
    const cache = url.searchParams.has('named') ? await workerCaches.open('named') : workerCaches.default;
    switch (url.searchParams.get('op')) {
      case 'aside': {
        const hit = await cache.match(key);
        if (hit !== undefined) return new Response(`cached: ${await hit.text()}`);
        await cache.put(key, new Response(`made for ${url.pathname}`, { headers: { 'content-type': 'text/plain', 'cache-control': 'max-age=600' } }));
        return new Response('made');
      }
      case 'report':
        return report(cache, key);
      case 'no-store':
        await cache.put(key, new Response('x', { headers: { 'cache-control': 'no-store' } }));
        return report(cache, key);
      case 'cookie':
        await cache.put(key, new Response('x', { headers: { 'cache-control': 'max-age=600', 'set-cookie': 'a=1' } }));
        return report(cache, key);
      case 'delete':
        return Response.json({ deleted: await cache.delete(key) });
      case 'post-match':
        return Response.json({ found: (await cache.match(new Request(key, { method: 'POST' }))) !== undefined, ignoringMethod: (await cache.match(new Request(key, { method: 'POST' }), { ignoreMethod: true })) !== undefined });
      case 'refused': {
        const out: string[] = [];
        const attempts: Array<[RequestInfo, Response]> = [
          [new Request(key, { method: 'POST' }), new Response('x')],
          [key, new Response('x', { status: 206 })],
          [key, new Response('x', { headers: { vary: '*' } })],
        ];
        for (const [req, res] of attempts) {
          try {
            await cache.put(req, res);
            out.push('stored');
          } catch (e) {
            out.push(`${(e as Error).name}: ${(e as Error).message}`);
          }
        }
        return Response.json(out);
      }
    }
    return new Response('unknown op', { status: 400 });
  },
};
