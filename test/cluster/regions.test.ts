// A cluster of three regions on one machine: one real PostgreSQL, one node per
// region, each advertised through a delaying proxy (a: 10 ms, b: 50 ms,
// c: 300 ms per round trip), so every node measures the others' distance.
// The cases run in order on the one cluster (starting it costs a few seconds).

import { createHash } from 'node:crypto';
import pgClient from 'pg';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { Client, request } from 'undici';
import { signMarker } from '../../router/cluster/forwarder.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../sdk/cli/run.ts';
import { startCluster, startRegionNode, stopCluster, waitFor, type RegionNode } from '../helpers/cluster.ts';
import { startNode } from '../helpers/node.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

const ECHO = `export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/throw') throw new Error('thrown on purpose');
    if (url.pathname === '/stream') {
      const n = Number(url.searchParams.get('n'));
      let i = 0;
      return new Response(new ReadableStream({ pull(c) { if (i++ < n) c.enqueue(new Uint8Array(65536).fill(97)); else c.close(); } }));
    }
    const body = new Uint8Array(await request.arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
    return Response.json({
      method: request.method, path: url.pathname + url.search, header: request.headers.get('x-test'),
      bytes: body.byteLength, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    }, { status: url.searchParams.has('status') ? Number(url.searchParams.get('status')) : 200, headers: { 'x-from': 'worker' } });
  },
};`;

let pg: StartedPostgres;
let a: RegionNode;
let b: RegionNode;
let c: RegionNode;

beforeAll(async () => {
  const cluster = await startCluster({ a: 10, b: 50, c: 300 });
  pg = cluster.postgres;
  [a, b, c] = cluster.nodes as [RegionNode, RegionNode, RegionNode];
}, 120_000);

afterAll(() => stopCluster(pg, [a, b, c]));

describe('a cluster of regions', () => {
  it('serves a deploy acknowledged by one node from every node of its regions within 1 s, and shows its placement', async () => {
    const dep = await a.node.deploy('echo', { script: ECHO, regions: ['b', 'c'], limits: { cpuMs: 2000 } });
    expect(dep.status).toBe(201);
    const acked = performance.now();
    // Measures: time from the deploy's answer at a to b and c answering with it directly.
    const converged = await Promise.all([b, c].map((n) => waitFor(`${n.region} to serve echo`, async () => (await n.node.call('echo', '/')).status === 200, 5_000)));
    const convergenceMs = performance.now() - acked;
    // The target is 1 s (bench/regions.ts measures it: tens of ms); this
    // bound holds on a machine loaded several times over its cores.
    expect(convergenceMs, `b ${converged[0]!.toFixed(0)} ms, c ${converged[1]!.toFixed(0)} ms`).toBeLessThan(3_000);

    const info = (await (await b.node.api('/v1/functions/echo')).json()) as { placement: { regions: string[]; active: string[] } };
    expect(info.placement.regions).toEqual(['b', 'c']);
    expect(info.placement.active).toEqual(['b', 'c']);
    const regions = (await (await a.node.api('/v1/regions')).json()) as { region: string; regions: Array<{ name: string; healthy: boolean; rttMs: number; nodes: unknown[] }> };
    expect(regions.region).toBe('a');
    expect(regions.regions.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(regions.regions[1]!.rttMs).toBeGreaterThanOrEqual(50);
    expect(regions.regions[2]!.rttMs).toBeGreaterThanOrEqual(300);
  });

  it('answers in its own region with edgefn-region, and forwards from a region that does not hold the function to the nearest that does', async () => {
    const direct = await c.node.call('echo', '/here');
    expect(direct.status).toBe(200);
    expect(direct.headers.get('edgefn-region')).toBe('c');
    expect(direct.headers.get('server-timing')).not.toMatch(/edge;/);
    const missing = await c.node.call('nothing-here', '/');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('edgefn-region')).toBe('c');
    const res = await a.node.call('echo', '/x?y=1', { method: 'POST', body: 'hello', headers: { 'x-test': 'kept' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('edgefn-region')).toBe('b');
    expect(res.headers.get('x-from')).toBe('worker');
    expect(res.headers.get('server-timing')).toMatch(/edge;desc="a";dur=[\d.]+, forward;desc="b"/);
    expect(await res.json()).toMatchObject({ method: 'POST', path: '/x?y=1', header: 'kept', bytes: 5 });
  });

  it('streams bodies both ways through the hop and keeps the worker status and errors', async () => {
    const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
    const res = await a.node.call('echo', '/upload', { method: 'PUT', body: big });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ method: 'PUT', bytes: big.byteLength, sha256: createHash('sha256').update(big).digest('hex') });
    const stream = await a.node.call('echo', '/stream?n=64');
    expect(stream.status).toBe(200);
    expect((await stream.arrayBuffer()).byteLength).toBe(64 * 65536);
    const status = await a.node.call('echo', '/?status=418');
    expect(status.status, `${status.headers.get('edgefn-error')}: ${await status.clone().text()}`).toBe(418);
    const thrown = await a.node.call('echo', '/throw');
    expect(thrown.status).toBe(500);
    expect(thrown.headers.get('edgefn-error')).toBe('exception');
    expect(thrown.headers.get('edgefn-region')).toBe('b');
  });

  it('holds a forwarded response back for a slow client instead of buffering it in the entry node', async () => {
    const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const entry = a.node.child.pid!;
    const base = rssMb(entry);
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(entry))), 20);
    try {
      // 128 MB from b's worker, through a's forwarder, to a client that stops reading.
      const res = await request(`${a.node.dataUrl}/stream?n=2048`, { headers: { host: 'echo.localhost' }, highWaterMark: 64 * 1024 });
      expect(res.statusCode).toBe(200);
      const it = res.body[Symbol.asyncIterator]();
      let total = ((await it.next()).value as Uint8Array).byteLength;
      await new Promise((r) => setTimeout(r, 3000));
      const stalledPeak = peak - base;
      for (let next = await it.next(); !next.done; next = await it.next()) total += (next.value as Uint8Array).byteLength;
      expect(total).toBe(2048 * 65536);
      // Measured: ~6 MB with backpressure; a forwarder that wrote whatever
      // arrived grew by ~46 MB in 1.5 s here (b's proxy caps the rate).
      expect(stalledPeak, `entry node grew by ${stalledPeak.toFixed(1)} MB while the client stalled`).toBeLessThan(32);
    } finally {
      clearInterval(sampler);
    }
  });

  it('follows the measured latency: when b becomes farther than c, requests entering a go to c', async () => {
    b.proxy.delayMs = 700;
    try {
      // Measures: how long until a's EWMA of b's probes passes c's 300 ms.
      await waitFor('a to forward to c', async () => (await a.node.call('echo', '/')).headers.get('edgefn-region') === 'c', 10_000);
    } finally {
      b.proxy.delayMs = 50;
    }
    await waitFor('a to forward to b again', async () => (await a.node.call('echo', '/')).headers.get('edgefn-region') === 'b', 10_000);
  });

  it('refuses a forged forwarding marker like any header: the request is still forwarded once', async () => {
    const res = await a.node.call('echo', '/', { headers: { 'edgefn-forwarded': 'z;1;forged' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('edgefn-region')).toBe('b');
  });

  it('never forwards a request twice: a node given a forwarded request for a function it does not hold answers 503 region-unavailable', async () => {
    expect((await a.node.deploy('only-c', { script: ECHO, regions: ['c'] })).status).toBe(201);
    await waitFor('c to serve only-c', async () => (await c.node.call('only-c')).status === 200, 3_000);
    // A marker as region a's forwarder makes it, with the cluster's secret.
    const db = new pgClient.Client(pg.url);
    await db.connect();
    const secret = (await db.query(`SELECT value FROM edgefn_cluster WHERE key = 'secret'`)).rows[0].value as string;
    await db.end();
    const res = await b.node.call('only-c', '/', { headers: { 'edgefn-forwarded': signMarker(secret, 'a') } });
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('region-unavailable');
    expect(res.headers.get('edgefn-region')).toBe('b');
    expect(await res.text()).toMatch(/forwarded from region "a", but region "b" does not hold function "only-c"/);
    // Without the marker, b forwards it (once) to c.
    expect((await b.node.call('only-c')).headers.get('edgefn-region')).toBe('c');
  });

  it('deploys with the CLI to the regions given by --region, and lists regions with edgefn regions', async () => {
    const out: string[] = [];
    const io = { env: { EDGEFN_API: a.node.apiUrl, EDGEFN_TOKEN: a.node.token }, stdout: (t: string) => out.push(t), stderr: () => {} };
    const fixture = new URL('../fixtures/sdk-worker/worker.ts', import.meta.url).pathname;
    expect(await run(['deploy', fixture, '--name', 'cli-fn', '--region', 'c', '--region', 'a'], io)).toBe(0);
    const info = (await (await b.node.api('/v1/functions/cli-fn')).json()) as { placement: { regions: string[] } };
    expect(info.placement.regions).toEqual(['a', 'c']);
    out.length = 0;
    expect(await run(['regions'], io)).toBe(0);
    const lines = out.join('').trim().split('\n');
    expect(lines[0]).toMatch(/^REGION\s+RTT\s+NODE\s+URL\s+STATE$/);
    expect(lines[1]).toMatch(/^a \(this node's\)\s+0\.0 ms .* this node$/);
    expect(lines[2]).toMatch(/^b\s+\d+\.\d ms .* healthy$/);
    expect(lines[3]).toMatch(/^c\s+\d+\.\d ms .* healthy$/);
  });

  it('serves each request of one keep-alive connection where its function runs: forwarded first, then one placed here', async () => {
    expect((await a.node.deploy('at-a', { script: ECHO, regions: ['a'] })).status).toBe(201);
    const conn = new Client(a.node.dataUrl);
    try {
      const regionOf = async (host: string) => {
        const res = await conn.request({ method: 'GET', path: '/', headers: { host } });
        const text = await res.body.text();
        return `${res.statusCode} ${String(res.headers['edgefn-region'])}${res.statusCode === 200 ? '' : ` ${text}`}`;
      };
      expect(await regionOf('echo.localhost')).toBe('200 b');
      expect(await regionOf('at-a.localhost')).toBe('200 a');
      expect(await regionOf('echo.localhost')).toBe('200 b');
    } finally {
      await conn.close();
    }
  });

  it('serves each request of a connection held by an isolate host where its function runs: here first, then one forwarded, with bodies both ways', async () => {
    const conn = new Client(a.node.dataUrl);
    try {
      const first = await conn.request({ method: 'GET', path: '/', headers: { host: 'at-a.localhost' } });
      await first.body.text();
      expect([first.statusCode, first.headers['edgefn-region']]).toEqual([200, 'a']);
      // echo runs only in b: the host holding this connection has no route
      // for it and sends it through its front door, which forwards it.
      const body = Buffer.alloc(300_000, 7);
      const res = await conn.request({ method: 'POST', path: '/up?x=1', headers: { host: 'echo.localhost', 'x-test': 'held' }, body });
      const echoed = (await res.body.json()) as { method: string; path: string; header: string; bytes: number; sha256: string };
      expect([res.statusCode, res.headers['edgefn-region']]).toEqual([200, 'b']);
      expect(echoed).toEqual({ method: 'POST', path: '/up?x=1', header: 'held', bytes: body.byteLength, sha256: createHash('sha256').update(body).digest('hex') });
      expect(String(res.headers['server-timing'])).toContain('forward;desc="b"');
      const streamed = await conn.request({ method: 'GET', path: '/stream?n=20', headers: { host: 'echo.localhost' } });
      expect((await streamed.body.arrayBuffer()).byteLength).toBe(20 * 65536);
      // The connection is still the host's: a local function is served here.
      const again = await conn.request({ method: 'GET', path: '/', headers: { host: 'at-a.localhost' } });
      await again.body.text();
      expect([again.statusCode, again.headers['edgefn-region']]).toEqual([200, 'a']);
      const none = await conn.request({ method: 'GET', path: '/', headers: { host: 'no-such-fn.localhost' } });
      expect([none.statusCode, none.headers['edgefn-error'], await none.body.text()]).toEqual([404, 'not-found', 'no function named "no-such-fn"\n']);
    } finally {
      await conn.close();
    }
  });

  it('adopts what a standalone node served when it joins: listed and forwarded to from every region; a name the cluster has keeps the cluster function', async () => {
    const solo = await startNode({ env: { EDGEFN_HOSTS: '1', EDGEFN_POOL_SIZE: '2' } });
    let joined: RegionNode | undefined;
    try {
      expect((await solo.deploy('solo-fn', { script: `export default { fetch() { return new Response('solo') } }` })).status).toBe(201);
      expect((await solo.deploy('echo', { script: `export default { fetch() { return new Response('standalone echo') } }` })).status).toBe(201);
      await solo.close({ keepData: true });
      joined = await startRegionNode(pg, 'c', 300, {}, solo.dataDir);
      const shown = (await (await a.node.api('/v1/functions/solo-fn')).json()) as { placement: { regions: string[] | null } };
      expect(shown.placement.regions).toEqual(['c']);
      const listed = (await (await b.node.api('/v1/functions')).json()) as { functions: Array<{ name: string }> };
      expect(listed.functions.map((f) => f.name)).toContain('solo-fn');
      const viaA = await a.node.call('solo-fn');
      expect([viaA.status, viaA.headers.get('edgefn-region'), await viaA.text()]).toEqual([200, 'c', 'solo']);
      // echo was the cluster's (placed in b and c) before this node joined:
      // the joined node dropped its own and serves the cluster's.
      const echo = await joined.node.call('echo');
      expect([echo.status, echo.headers.get('edgefn-region'), ((await echo.json()) as { method: string }).method]).toEqual([200, 'c', 'GET']);
      expect(joined.node.output()).toContain('function "echo" deployed on this node before it joined is replaced');
    } finally {
      if (joined !== undefined) {
        await joined.node.close();
        await joined.proxy.close();
      }
      rmSync(solo.dataDir, { recursive: true, force: true });
    }
  });

  it('runs a function placed near a backend in the region measured nearest to it, and moves it when the latencies change', async () => {
    // The backend answers each region's probes after that region's delay
    // (probes say their region in user-agent): on one machine, this is what
    // stands in for the distance from each region to a database.
    const delays: Record<string, number> = { a: 150, b: 40, c: 5 };
    const backend = createServer((req, res) => {
      const region = /region=([a-z0-9-]+)/.exec(req.headers['user-agent'] ?? '')?.[1] ?? '';
      setTimeout(() => res.end(), delays[region] ?? 0);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const near = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/health`;
    // Every node answers near-fn from `region`: waited for (each node reads
    // the figures on its own heartbeat), then asserted once more.
    const allRunIn = async (region: string) => {
      for (const n of [a, b, c]) {
        // What the node last answered, for the message when it never gets there.
        let last = '';
        await waitFor(`${n.region} to run near-fn in ${region}`, async () => {
          const res = await n.node.call('near-fn');
          const text = await res.text();
          last = `${res.status} region=${res.headers.get('edgefn-region')}${res.status === 200 ? '' : ` ${text.slice(0, 200)}`}; placement here: ${JSON.stringify(await nearAt(n))}`;
          return res.status === 200 && res.headers.get('edgefn-region') === region;
          // Twenty heartbeats: CI once saw b still answer from b after 5 s (the
          // run printed no more; the message now says what the node answered).
        }, 10_000).catch((err: Error) => {
          throw new Error(`${err.message}; its last answer: ${last}`);
        });
      }
      for (const n of [a, b, c]) {
        const res = await n.node.call('near-fn');
        await res.text();
        expect([n.region, res.status, res.headers.get('edgefn-region')]).toEqual([n.region, 200, region]);
      }
    };
    const nearAt = async (n: RegionNode) => ((await (await n.node.api('/v1/functions/near-fn')).json()) as { placement: { near?: unknown } }).placement.near;
    const nearOf = async () => ((await (await c.node.api('/v1/functions/near-fn')).json()) as { placement: { near?: { url: string; region: string | null; rttMs: Record<string, number> } } }).placement.near;
    try {
      const bad = await a.node.deploy('near-fn', { script: ECHO, regions: ['a', 'b'], placement: { near: 'db.example' } });
      expect([bad.status, (bad.json as { error: { message: string } }).error.message]).toEqual([400, '"placement.near" is "db.example", which is not a URL (for example "https://api.example.com" or "postgres://db.example:5432")']);
      expect((await a.node.deploy('near-fn', { script: ECHO, regions: ['a', 'b'], placement: { near } })).status).toBe(201);
      // c holds no copy: it never measures the backend, and is never chosen.
      await waitFor('figures from a and b, and near-fn placed in b', async () => {
        const n = await nearOf();
        return n?.region === 'b' && Object.keys(n.rttMs).sort().join() === 'a,b';
      }, 15_000);
      const shown = await nearOf();
      expect(shown?.url).toBe(near);
      expect(shown!.rttMs['a']).toBeGreaterThan(shown!.rttMs['b']!);
      // c's view is one node's; a and b read the figures on their own
      // heartbeats, so each is waited for until it too runs near-fn in b.
      await allRunIn('b');
      delays['b'] = 300;
      await waitFor('the cluster to move near-fn to a', async () => (await nearOf())?.region === 'a', 15_000);
      // Each node reads the figures with its own heartbeat (every 500 ms), so
      // for a moment they disagree; a request forwarded meanwhile to a node
      // that does not yet serve it is answered 503 region-unavailable (one
      // hop at most). Once all agree, every entry goes to a.
      // a too: until its own heartbeat reads the figures it still forwards to b.
      await allRunIn('a');
    } finally {
      await new Promise((r) => backend.close(r));
    }
  });

  it('deletes a function from every region at once', async () => {
    expect((await a.node.deploy('short-lived', { script: ECHO, regions: ['c'] })).status).toBe(201);
    await waitFor('c to serve short-lived', async () => (await c.node.call('short-lived')).status === 200, 2_000);
    const res = await b.node.api('/v1/functions/short-lived', { method: 'DELETE' });
    expect(res.status).toBe(200);
    // Measures: delete acknowledged at b → c and a no longer know it.
    await waitFor('c to stop serving short-lived', async () => (await c.node.call('short-lived')).status === 404, 3_000);
    await waitFor('a to stop forwarding short-lived', async () => (await a.node.call('short-lived')).status === 404, 3_000);
    expect((await a.node.api('/v1/functions/short-lived')).status).toBe(404);
  });

  it('rejects deploys to unknown regions with a message naming them', async () => {
    const dep = await a.node.deploy('nowhere', { script: ECHO, regions: ['mars'] });
    expect(dep.status).toBe(400);
    expect((dep.json as { error: { message: string } }).error.message).toMatch(/"mars".*known: a, b, c/);
  });
});
