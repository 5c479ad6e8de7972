// Usage metering on a real node: the hourly rows must add up to what each
// response's Server-Timing said, and survive a restart.
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

interface Row {
  hour: string;
  function: string;
  tenant: string;
  requests: number;
  cpuMs: number;
  wallMs: number;
  gbSeconds: number;
  ingressBytes: number;
  egressBytes: number;
  subrequests: number;
}

const TOKEN = 'usage-test-token';
const ENV = { EDGEFN_USAGE_FLUSH_MS: '200', EDGEFN_FETCH_ALLOW: '127.0.0.1' };
let node: StartedNode;
let upstream: Server;
let upstreamPort = 0;

beforeAll(async () => {
  // What the worker's subrequests reach (loopback is allowed by EDGEFN_FETCH_ALLOW).
  upstream = createServer((_req, res) => res.end('up'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = (upstream.address() as AddressInfo).port;
  node = await startNode({ token: TOKEN, env: ENV });
  const metered = `export default { async fetch(request, env) {
    const body = await request.text();
    const fetches = Number(request.headers.get('x-fetches') ?? 0);
    for (let i = 0; i < fetches; i++) await (await fetch(env.UPSTREAM)).text();
    return new Response('r'.repeat(37) + body.length);
  } }`;
  expect((await node.deploy('metered', { script: metered, vars: { UPSTREAM: `http://127.0.0.1:${upstreamPort}/` }, limits: { memoryMb: 64 }, tags: { tenant: 'acme', team: 'core' } })).status).toBe(201);
  expect((await node.deploy('plain', { script: `export default { fetch() { return new Response('p'); } }` })).status).toBe(201);
});
afterAll(async () => {
  const dir = node.dataDir;
  await node.close();
  // The restarted node was given its data directory, so it leaves it behind.
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

function serverTiming(res: Response): { cpu: number; wall: number } {
  const st = res.headers.get('server-timing') ?? '';
  const cpu = /(?:^|, )cpu;dur=([\d.]+)/.exec(st);
  const wall = /(?:^|, )wall;dur=([\d.]+)/.exec(st);
  expect(cpu, st).not.toBeNull();
  expect(wall, st).not.toBeNull();
  return { cpu: Number(cpu![1]), wall: Number(wall![1]) };
}

async function usage(query: string, n = node): Promise<Row[]> {
  const res = await n.api(`/v1/usage${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { usage: Row[] }).usage;
}

/** Usage once `check` holds: hosts report about once a second. */
async function usageWhen(query: string, check: (rows: Row[]) => boolean, n = node): Promise<Row[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await usage(query, n);
    if (check(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`usage never satisfied the check: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const total = (rows: Row[], key: keyof Row): number => rows.reduce((n, r) => n + (r[key] as number), 0);

describe('usage metering', () => {
  it("adds up to each response's Server-Timing: requests exactly, CPU-ms within rounding plus what ran after the head", async () => {
    const N = 30;
    let cpu = 0;
    let wall = 0;
    const body = 'b'.repeat(100);
    for (let i = 0; i < N; i++) {
      const res = await node.call('metered', '/', { method: 'POST', body, headers: { 'x-fetches': i < 5 ? '2' : '0' } });
      // A failure says which: edgefn's error code, its message and the timing.
      expect(res.status, `request ${i}: ${res.headers.get('edgefn-error')}, ${res.headers.get('server-timing')}: ${await res.clone().text()}`).toBe(200);
      expect(await res.text()).toBe('r'.repeat(37) + '100');
      const t = serverTiming(res);
      cpu += t.cpu;
      wall += t.wall;
    }
    const rows = await usageWhen('?function=metered', (r) => total(r, 'requests') >= N);
    expect(total(rows, 'requests')).toBe(N);
    expect(new Set(rows.map((r) => r.tenant))).toEqual(new Set(['acme']));
    const usedCpu = total(rows, 'cpuMs');
    const usedWall = total(rows, 'wallMs');
    // Server-Timing's cpu is the charge at the response head, to the µs
    // (3 decimals); the metered charge is that plus what the request ran
    // after its head (the end of the handler's entry): tens of µs here.
    console.log(`usage vs Server-Timing over ${N} requests: cpu ${usedCpu.toFixed(3)} vs ${cpu.toFixed(3)} ms (+${(usedCpu - cpu).toFixed(3)}), wall ${usedWall.toFixed(3)} vs ${wall.toFixed(3)} ms`);
    expect(usedCpu).toBeGreaterThanOrEqual(cpu - N * 0.0005);
    expect(usedCpu - cpu).toBeLessThan(N * 0.5);
    // Wall time runs to the end of the request, after its head.
    expect(usedWall).toBeGreaterThanOrEqual(wall - N * 0.0005);
    // GB-seconds: the 64 MB limit times the wall time.
    expect(total(rows, 'gbSeconds')).toBeCloseTo((64 / 1024) * (usedWall / 1000), 9);
    expect(total(rows, 'ingressBytes')).toBe(N * 100);
    expect(total(rows, 'egressBytes')).toBe(N * 40);
    expect(total(rows, 'subrequests')).toBe(10);
  });

  it('keeps functions and tenants apart, and filters by function and tenant', async () => {
    for (let i = 0; i < 3; i++) expect((await node.call('plain')).status).toBe(200);
    const all = await usageWhen('', (r) => total(r.filter((x) => x.function === 'plain'), 'requests') === 3);
    expect(all.filter((r) => r.function === 'plain').every((r) => r.tenant === '')).toBe(true);
    expect(total(await usage('?function=plain'), 'requests')).toBe(3);
    expect((await usage('?tenant=acme')).every((r) => r.function === 'metered')).toBe(true);
    expect(total(await usage('?tenant=acme'), 'requests')).toBe(30);
    for (const r of all) {
      expect(r.hour).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z$/);
      expect(Date.now() - Date.parse(r.hour)).toBeLessThan(2 * 3_600_000);
    }
    // A range that ends before this hour began holds none of it.
    const hourStart = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    expect(await usage(`?from=${encodeURIComponent(new Date(hourStart.getTime() - 48 * 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(hourStart.getTime() - 1).toISOString())}`)).toEqual([]);
  });

  it('exports CSV and NDJSON with the same rows', async () => {
    const rows = await usage('');
    const csv = await node.api('/v1/usage?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines[0]).toBe('hour,function,tenant,requests,cpu_ms,wall_ms,gb_seconds,ingress_bytes,egress_bytes,subrequests');
    const parsed = lines.slice(1).map((l) => {
      const c = l.split(',');
      expect(c).toHaveLength(10);
      return { hour: c[0], function: c[1], tenant: c[2], requests: Number(c[3]), cpuMs: Number(c[4]), wallMs: Number(c[5]), gbSeconds: Number(c[6]), ingressBytes: Number(c[7]), egressBytes: Number(c[8]), subrequests: Number(c[9]) };
    });
    expect(parsed).toEqual(rows);
    const nd = await node.api('/v1/usage?format=ndjson');
    expect(nd.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const text = await nd.text();
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l) as Row)).toEqual(rows);
  });

  it('refuses bad queries and bad tags with 400', async () => {
    for (const q of ['?from=yesterday', '?to=2026-13-45', '?format=xml', '?function=Bad_Name', '?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z', '?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z']) {
      const res = await node.api(`/v1/usage${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_INPUT');
    }
    for (const tags of [{ Tenant: 'x' }, { tenant: '' }, { tenant: 'has space' }, { tenant: 7 }, ['acme'], Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`t${i}`, 'v']))]) {
      const d = await node.deploy('tagged', { script: `export default { fetch() { return new Response('t'); } }`, tags });
      expect(d.status, JSON.stringify(tags)).toBe(400);
      expect(JSON.stringify(d.json)).toMatch(/tag/);
    }
    const shown = (await (await node.api('/v1/functions/metered')).json()) as { tags?: Record<string, string> };
    expect(shown.tags).toEqual({ tenant: 'acme', team: 'core' });
  });

  it('writes what it has on shutdown and keeps it across a restart', async () => {
    const before = total(await usage('?function=plain'), 'requests');
    for (let i = 0; i < 4; i++) expect((await node.call('plain')).status).toBe(200);
    // Closed at once: the hosts' last counts travel with their final report, and are flushed on close.
    await node.close({ keepData: true });
    node = await startNode({ token: TOKEN, env: ENV, dataDir: node.dataDir });
    expect(total(await usage('?function=plain'), 'requests')).toBe(before + 4);
    expect(total(await usage('?function=metered'), 'requests')).toBe(30);
  });
});
