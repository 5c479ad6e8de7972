// Outbound fetch() through a real node: config from the environment, isolate
// hosts, the data plane. Origins are 127.0.0.1 servers this file starts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { loadConfig } from '../../router/config.ts';

let server: Server;
let ORIGIN = '';
const hits: string[] = [];
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

routes.set('/upload', (req, res) => {
  // Streams its answer back in three parts ~150 ms apart, after counting the upload.
  let n = 0;
  let chunks = 0;
  req.on('data', (c: Buffer) => {
    n += c.byteLength;
    chunks++;
  });
  req.on('end', () => {
    res.writeHead(201, { 'content-type': 'text/plain', 'x-origin': 'yes' });
    res.write(`got ${n} bytes in ${chunks} chunks, ${req.headers['x-client']}, ${req.headers.host};`);
    setTimeout(() => res.write('part2;'), 150);
    setTimeout(() => res.end('part3'), 300);
  });
});
routes.set('/hit', (req, res) => {
  hits.push(req.url ?? '');
  res.end('ok');
});

beforeAll(async () => {
  server = createServer((req, res) => {
    const h = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (h === undefined) {
      res.statusCode = 404;
      res.end();
    } else h(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  ORIGIN = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('fetch on a node with EDGEFN_FETCH_ALLOW=127.0.0.1', () => {
  let node: StartedNode;
  beforeAll(async () => {
    node = await startNode({ env: { EDGEFN_FETCH_ALLOW: '127.0.0.1', EDGEFN_FETCH_SUBREQUESTS: '3' } });
  });
  afterAll(() => node.close());

  it('runs a reverse-proxy worker: streams the request to the origin and the answer back', async () => {
    const dep = await node.deploy('proxy', {
      script: `export default { fetch(request) {
        const url = new URL(request.url);
        return fetch(new Request('${ORIGIN}' + url.pathname + url.search, request));
      } }`,
      // What is tested is streaming both ways; a cold start on a machine
      // busy with the rest of the suite went past the default 50 ms once.
      limits: { cpuMs: 2000 },
    });
    expect(dep.status).toBeLessThan(300);
    // Past the data plane's whole-body limit, so the body reaches the worker as a stream.
    const body = Buffer.alloc(300 * 1024, 1);
    const res = await request(`http://127.0.0.1:${node.port}/upload`, { method: 'POST', body, headers: { host: 'proxy.localhost', 'x-client': 'c1' } });
    expect(res.statusCode, String(res.headers['edgefn-error'])).toBe(201);
    expect(res.headers['x-origin']).toBe('yes');
    const arrivals: Array<{ t: number; text: string }> = [];
    const t0 = performance.now();
    for await (const chunk of res.body) arrivals.push({ t: performance.now() - t0, text: Buffer.from(chunk as Uint8Array).toString() });
    const text = arrivals.map((a) => a.text).join('');
    expect(text).toMatch(new RegExp(`^got ${300 * 1024} bytes in \\d+ chunks, c1, 127\\.0\\.0\\.1:\\d+;part2;part3$`));
    // The origin's parts were ~300 ms apart end to end: the proxy streamed, it did not buffer.
    expect(arrivals.length).toBeGreaterThanOrEqual(2);
    expect(arrivals[arrivals.length - 1]!.t - arrivals[0]!.t).toBeGreaterThan(150);
  });

  it('finishes a ctx.waitUntil(fetch(...)) after the response has gone', async () => {
    await node.deploy('later', {
      script: `export default { fetch(request, env, ctx) {
        ctx.waitUntil(new Promise((r) => setTimeout(r, 200)).then(() => fetch('${ORIGIN}/hit?from=waitUntil')).then((r) => r.text()));
        return new Response('answered');
      } }`,
    });
    const res = await node.call('later');
    expect(await res.text()).toBe('answered');
    expect(hits).not.toContain('/hit?from=waitUntil');
    const deadline = Date.now() + 5_000;
    while (!hits.includes('/hit?from=waitUntil') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(hits).toContain('/hit?from=waitUntil');
  });

  it('applies EDGEFN_FETCH_SUBREQUESTS per request', async () => {
    await node.deploy('many', {
      script: `export default { async fetch() {
        const out = [];
        for (let i = 0; i < 4; i++) out.push(await fetch('${ORIGIN}/hit?n=' + i).then((r) => r.status, (e) => e.message));
        return Response.json(out);
      } }`,
      // What is tested is the subrequest count; a cold start and four fetches
      // on a heavily loaded machine once went past the default 50 ms.
      limits: { cpuMs: 1000 },
    });
    const out = (await (await node.call('many')).json()) as unknown[];
    expect(out.slice(0, 3)).toEqual([200, 200, 200]);
    expect(out[3]).toMatch(/^Too many subrequests \(limit 3\)/);
  });
});

describe('fetch on a node with default settings', () => {
  let node: StartedNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(() => node.close());

  it('refuses loopback and private destinations with a catchable TypeError', async () => {
    const before = hits.length;
    await node.deploy('ssrf', {
      script: `export default { async fetch() {
        const out = [];
        for (const u of ['${ORIGIN}/hit?ssrf', 'http://10.0.0.1/', 'http://169.254.169.254/latest/meta-data/']) {
          out.push(await fetch(u).then((r) => 'reached ' + r.status, (e) => e.name + ': ' + e.message));
        }
        return Response.json(out);
      } }`,
      // This checks the refusals, not budgets (budgets.test.ts does): a cold
      // first request that loads the fetch path, on a machine loaded by the
      // rest of the suite, was charged past the default 50 ms.
      limits: { cpuMs: 2000 },
    });
    const out = (await (await node.call('ssrf')).json()) as string[];
    expect(out[0]).toMatch(/^TypeError: fetch to 127\.0\.0\.1 refused: .*loopback.*EDGEFN_FETCH_ALLOW/);
    expect(out[1]).toMatch(/^TypeError: fetch to 10\.0\.0\.1 refused: .*private/);
    expect(out[2]).toMatch(/^TypeError: fetch to 169\.254\.169\.254 refused: .*link-local/);
    expect(hits.length).toBe(before);
  });
});

describe('fetch configuration', () => {
  it('stops start-up on a bad EDGEFN_FETCH_ALLOW entry, naming the variable and the entry', () => {
    expect(() => loadConfig({ EDGEFN_FETCH_ALLOW: '127.0.0.1, 10.0.0.0/99' })).toThrow(/EDGEFN_FETCH_ALLOW: .*"10\.0\.0\.0\/99"/);
    expect(loadConfig({ EDGEFN_FETCH_ALLOW: '127.0.0.1, localhost,*.internal.example,fd00::/8' }).fetch).toEqual({
      subrequests: 50,
      timeoutMs: 30_000,
      allow: ['127.0.0.1', 'localhost', '*.internal.example', 'fd00::/8'],
    });
  });
});
