// A whole node, driven as a user would: deploy over the control API, call over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

function timing(res: Response): { cold: number | undefined; cpu: number } {
  const st = res.headers.get('server-timing') ?? '';
  const cold = /cold;dur=([\d.]+)/.exec(st);
  const cpu = /cpu;dur=([\d.]+)/.exec(st);
  return { cold: cold ? Number(cold[1]) : undefined, cpu: cpu ? Number(cpu[1]) : NaN };
}

describe('serving a deployed function', () => {
  it('deploys a module worker and answers with its response, env and an echo of the request', async () => {
    const d = await node.deploy('echo', {
      script: `export default {
        async fetch(request, env, ctx) {
          const body = await request.text();
          const u = new URL(request.url);
          return Response.json({ method: request.method, path: u.pathname, query: u.searchParams.get('q'), custom: request.headers.get('x-custom'), body, greeting: env.GREETING, secret: env.TOKEN });
        }
      }`,
      vars: { GREETING: 'hi' },
      secrets: { TOKEN: 's3cret' },
    });
    expect(d.status).toBe(201);
    expect(d.json).toMatchObject({ name: 'echo', version: 1 });
    expect(String(d.json['url'])).toContain('echo.localhost');
    const res = await node.call('echo', '/a/b?q=1', { method: 'POST', headers: { 'x-custom': 'yes', 'content-type': 'text/plain' }, body: 'payload' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ method: 'POST', path: '/a/b', query: '1', custom: 'yes', body: 'payload', greeting: 'hi', secret: 's3cret' });
  });

  it('serves the service-worker format with event.respondWith', async () => {
    const d = await node.deploy('sw', { format: 'service-worker', script: `addEventListener('fetch', (event) => { event.respondWith(new Response('sw ' + event.request.method, { status: 202, headers: { 'x-sw': '1' } })); });` });
    expect(d.status).toBe(201);
    const res = await node.call('sw', '/', { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-sw')).toBe('1');
    expect(await res.text()).toBe('sw DELETE');
  });

  it('marks the first request cold in Server-Timing and later ones warm', async () => {
    await node.deploy('timed', { script: `export default { fetch() { return new Response('ok'); } }` });
    const first = await node.call('timed');
    const second = await node.call('timed');
    expect(await first.text()).toBe('ok');
    expect(timing(first).cold).toBeGreaterThan(0);
    expect(timing(first).cpu).toBeGreaterThanOrEqual(0);
    expect(timing(second).cold).toBeUndefined();
    expect(timing(second).cpu).toBeGreaterThanOrEqual(0);
  });

  it('answers 404 with edgefn-error: not-found for an unknown function', async () => {
    const res = await node.call('nope-not-here');
    expect(res.status).toBe(404);
    expect(res.headers.get('edgefn-error')).toBe('not-found');
    expect(await res.text()).toContain('nope-not-here');
  });

  it('passes multiple Set-Cookie headers and a redirect through unchanged', async () => {
    await node.deploy('cookies', {
      script: `export default { fetch(req) {
        if (new URL(req.url).pathname === '/go') return Response.redirect('http://example.com/there', 302);
        const h = new Headers(); h.append('set-cookie', 'a=1; Path=/'); h.append('set-cookie', 'b=2; HttpOnly');
        return new Response('c', { headers: h });
      } }`,
    });
    const res = await request(`http://127.0.0.1:${node.port}/`, { headers: { host: 'cookies.localhost' } });
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    await res.body.text();
    const r2 = await node.call('cookies', '/go');
    expect(r2.status).toBe(302);
    expect(r2.headers.get('location')).toBe('http://example.com/there');
  });

  it('streams a ReadableStream body to the client chunk by chunk as it is produced', async () => {
    await node.deploy('stream', {
      script: `export default { fetch() {
        let i = 0;
        const enc = new TextEncoder();
        const body = new ReadableStream({
          async pull(c) {
            if (i === 3) { c.close(); return; }
            await new Promise((r) => setTimeout(r, 150));
            c.enqueue(enc.encode('chunk' + i++ + '\\n'));
          }
        });
        return new Response(body, { headers: { 'content-type': 'text/plain' } });
      } }`,
    });
    const res = await request(`http://127.0.0.1:${node.port}/`, { headers: { host: 'stream.localhost' } });
    expect(res.statusCode).toBe(200);
    const arrivals: Array<{ t: number; text: string }> = [];
    const t0 = performance.now();
    for await (const chunk of res.body) arrivals.push({ t: performance.now() - t0, text: Buffer.from(chunk as Uint8Array).toString() });
    expect(arrivals.map((a) => a.text).join('')).toBe('chunk0\nchunk1\nchunk2\n');
    // Produced ~150 ms apart: they must arrive apart, not as one buffer at the end.
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals[arrivals.length - 1]!.t - arrivals[0]!.t).toBeGreaterThan(200);
  });

  it('streams a large request body into the worker', async () => {
    await node.deploy('upload', {
      script: `export default { async fetch(req) {
        let n = 0, chunks = 0;
        for await (const c of req.body) { n += c.byteLength; chunks++; }
        return Response.json({ n, chunks });
      } }`,
    });
    const size = 5 * 1024 * 1024;
    const res = await node.call('upload', '/', { method: 'POST', body: new Uint8Array(size).fill(7) });
    const j = (await res.json()) as { n: number; chunks: number };
    expect(res.status).toBe(200);
    expect(j.n).toBe(size);
    expect(j.chunks).toBeGreaterThan(1);
  });

  it('runs ctx.waitUntil work after the response', async () => {
    await node.deploy('later', {
      script: `export default { fetch(req, env, ctx) {
        ctx.waitUntil(new Promise((r) => setTimeout(r, 50)).then(() => console.log('waitUntil ran')));
        return new Response('now');
      } }`,
    });
    expect(await (await node.call('later')).text()).toBe('now');
    await new Promise((r) => setTimeout(r, 300));
    const logs = (await (await node.api('/v1/functions/later/logs')).json()) as { logs: Array<{ message: string }> };
    expect(logs.logs.map((l) => l.message)).toContain('waitUntil ran');
  });
});

describe('worker errors', () => {
  it('answers 500 exception and sends the message and stack to the function log, not the client', async () => {
    await node.deploy('throws', { script: `export default { fetch() { throw new Error('kaboom-secret-detail'); } }` });
    const res = await node.call('throws');
    expect(res.status).toBe(500);
    expect(res.headers.get('edgefn-error')).toBe('exception');
    expect(await res.text()).not.toContain('kaboom');
    const logs = (await (await node.api('/v1/functions/throws/logs')).json()) as { logs: Array<{ level: string; message: string }> };
    const line = logs.logs.find((l) => l.message.includes('kaboom-secret-detail'));
    expect(line?.level).toBe('error');
    expect(line?.message).toMatch(/at .*throws\.js/);
  });

  it('treats a rejected handler promise as an exception', async () => {
    await node.deploy('rejects', { script: `export default { async fetch() { await null; throw new TypeError('async boom'); } }` });
    const res = await node.call('rejects');
    expect(res.status).toBe(500);
    expect(res.headers.get('edgefn-error')).toBe('exception');
  });

  it('answers 500 bad-response when the handler returns something that is not a Response', async () => {
    await node.deploy('badret', { script: `export default { fetch() { return { status: 200, body: 'nope' }; } }` });
    const res = await node.call('badret');
    expect(res.status).toBe(500);
    expect(res.headers.get('edgefn-error')).toBe('bad-response');
    expect(await res.text()).toMatch(/not a Response/);
  });
});

describe('hostile workers', () => {
  it('cannot crash the front door by bending the built-ins that shape its response', async () => {
    await node.deploy('bends-builtins', {
      script: `export default { fetch(req) {
        const mode = new URL(req.url).pathname;
        if (mode === '/names') String.prototype.toLowerCase = function () { return 'bad\\r\\nname'; };
        if (mode === '/values') String.prototype.trim = function () { return 'v\\r\\nInjected: 1'; };
        return new Response('x', { headers: { 'X-A': ' 1 ' } });
      } }`,
      // It checks the head, not budgets: a cold first request (whatwg-url loads) on a loaded machine can pass 50 ms of wall-clocked CPU.
      limits: { cpuMs: 2_000 },
    });
    // Headers name and trim with built-ins captured before tenant code runs
    // (runtime/webapi/intrinsics.ts), so the bent ones never shape the head;
    // the isolate boundary's head check (500 bad-response) stays behind that.
    for (const path of ['/names', '/values']) {
      const res = await node.call('bends-builtins', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-a')).toBe('1');
      expect(res.headers.get('injected')).toBeNull();
    }
    expect((await node.api('/v1/functions')).status).toBe(200);
    expect(await (await node.call('echo', '/', { method: 'POST', body: 'still here' })).json()).toMatchObject({ body: 'still here' });
  });
});

describe('isolation between tenants', () => {
  it('keeps globals, env and logs apart, and exposes no Node or host objects', async () => {
    const script = (tag: string) => `
      globalThis.counter = (globalThis.counter ?? 0);
      export default { fetch(req, env) {
        globalThis.counter++;
        globalThis.mine = '${tag}';
        console.log('log of ${tag}');
        const leaks = ['process', 'require', 'Buffer', 'module', '__edgefn_boot', 'global'].filter((n) => typeof globalThis[n] !== 'undefined');
        const own = Object.getOwnPropertyNames(globalThis).filter((n) => n.startsWith('__'));
        return Response.json({ counter: globalThis.counter, other: globalThis.otherTag ?? null, env: Object.keys(env), leaks, own });
      } }`;
    await node.deploy('tenant-a', { script: script('a'), secrets: { A_SECRET: 'a' } });
    await node.deploy('tenant-b', { script: script('b').replace("globalThis.mine = 'b'", "globalThis.otherTag = 'b'"), secrets: { B_SECRET: 'b' } });
    const a1 = (await (await node.call('tenant-a')).json()) as Record<string, unknown>;
    await node.call('tenant-b');
    const a2 = (await (await node.call('tenant-a')).json()) as Record<string, unknown>;
    expect(a1['env']).toEqual(['A_SECRET']);
    expect(a2['other']).toBeNull();
    expect(a2['counter']).toBe(2);
    expect(a1['leaks']).toEqual([]);
    expect(a1['own']).toEqual([]);
    const logsA = (await (await node.api('/v1/functions/tenant-a/logs')).json()) as { logs: Array<{ message: string }> };
    expect(logsA.logs.every((l) => l.message === 'log of a')).toBe(true);
  });
});
