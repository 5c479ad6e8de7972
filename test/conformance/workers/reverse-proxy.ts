// A reverse proxy: forwards to env.ORIGIN with a rewritten path, adds and
// strips headers, and passes status, headers and a streamed body back.

interface Env {
  ORIGIN: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (!url.pathname.startsWith('/api/')) return new Response('not proxied', { status: 404 });
    const target = new URL(url.pathname.slice(4) + url.search, env.ORIGIN);
    const headers = new Headers(request.headers);
    headers.set('x-forwarded-proto', url.protocol.slice(0, -1));
    headers.set('x-proxy', 'conformance');
    headers.delete('cookie');
    const init: RequestInit = { method: request.method, headers, redirect: 'manual' };
    if (request.method !== 'GET' && request.method !== 'HEAD') init.body = await request.arrayBuffer();
    const upstream = await fetch(target, init);
    const out = new Response(upstream.body, upstream);
    out.headers.delete('x-internal');
    out.headers.set('x-proxied-by', 'edge');
    return out;
  },
};
