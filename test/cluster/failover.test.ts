// Failures in a cluster of three regions (a: 10 ms, b: 40 ms, c: 120 ms per
// round trip through each node's delaying proxy), in order: PostgreSQL
// stopped and started again while requests flow (a node restarted meanwhile);
// a deploy racing a node's restart; 10,000 functions arriving at once; then,
// under steady load entering at a, one of region b's two nodes SIGKILLed, then
// the other, then c's.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { restartRegionNode, startCluster, startRegionNode, stopCluster, waitFor, type RegionNode } from '../helpers/cluster.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

const HELLO = (text: string) => `export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/slow') await new Promise((r) => setTimeout(r, 3000));
    return new Response(${JSON.stringify(text)});
  },
};`;

let postgres: StartedPostgres;
let a: RegionNode;
let b: RegionNode;
let c: RegionNode;
/** Region b's second node. */
let b2: RegionNode;

beforeAll(async () => {
  const cluster = await startCluster({ a: 10, b: 40, c: 120 });
  postgres = cluster.postgres;
  [a, b, c] = cluster.nodes as [RegionNode, RegionNode, RegionNode];
  b2 = await startRegionNode(postgres, 'b', 40);
  await waitFor('a to see both nodes of b', async () => {
    const r = (await (await a.node.api('/v1/regions')).json()) as { regions: Array<{ name: string; nodes: Array<{ healthy: boolean }> }> };
    return r.regions.find((x) => x.name === 'b')?.nodes.filter((n) => n.healthy).length === 2;
  });
  expect((await a.node.deploy('hello', { script: HELLO('v1'), regions: ['b', 'c'] })).status).toBe(201);
  await Promise.all([b, c].map((n) => waitFor(`${n.region} to serve hello`, async () => (await n.node.call('hello')).status === 200)));
}, 120_000);

afterAll(() => stopCluster(postgres, [a, b, c, b2]));

/** Requests entering at `n` from `loops` concurrent clients until stop() is called; counts answers by region and failures. */
function steadyLoad(n: RegionNode, loops: number) {
  let running = true;
  const byRegion: Record<string, number> = {};
  const failures: string[] = [];
  const regionAt: Array<{ t: number; region: string }> = [];
  const done = Promise.all(
    Array.from({ length: loops }, async () => {
      while (running) {
        try {
          const res = await n.node.call('hello', '/');
          const region = res.headers.get('edgefn-region') ?? (res.status === 200 ? 'entry' : '?');
          if (res.status !== 200) failures.push(`${res.status} ${res.headers.get('edgefn-error')}: ${await res.text()}`);
          else {
            byRegion[region] = (byRegion[region] ?? 0) + 1;
            regionAt.push({ t: performance.now(), region });
          }
        } catch (err) {
          failures.push(String(err));
        }
      }
    }),
  );
  return {
    byRegion,
    failures,
    regionAt,
    async stop() {
      running = false;
      await done;
    },
  };
}

describe('failures in a cluster', () => {
  it('keeps serving while PostgreSQL is down; deploys answer 503 store-unavailable, then work again once it is back', async () => {
    const load = steadyLoad(a, 2);
    await new Promise((r) => setTimeout(r, 300));
    await postgres.stop();
    try {
      await new Promise((r) => setTimeout(r, 500));
      const refused = await a.node.deploy('hello', { script: HELLO('v2'), regions: ['b', 'c'] });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: { code: 'ERR_STORE_UNAVAILABLE' } });
      expect((refused.json as { error: { message: string } }).error.message).toMatch(/PostgreSQL cannot be reached/);
      expect((await c.node.call('hello')).status).toBe(200);
      // A node (re)started while PostgreSQL is down starts on its own copy.
      c = await restartRegionNode(postgres, c);
      expect(c.node.output()).toMatch(/PostgreSQL is out of reach; serving from the local copy/);
      expect(await (await c.node.call('hello')).text()).toBe('v1');
    } finally {
      await postgres.restart();
    }
    // Measures: after PostgreSQL is back, until a deploy is accepted again (the nodes' pools reconnect).
    let deployed: { status: number } = { status: 0 };
    await waitFor('a deploy to be accepted again', async () => (deployed = await a.node.deploy('hello', { script: HELLO('v2'), regions: ['b', 'c'] })).status === 200, 10_000);
    expect(deployed.status).toBe(200);
    await waitFor('c to serve v2', async () => (await (await c.node.call('hello')).text()) === 'v2', 5_000);
    await load.stop();
    expect(load.failures.join('\n')).toBe('');
    expect(load.byRegion['b']).toBeGreaterThan(0);
  });

  it('brings a node that restarts while a deploy is made up to date: it serves that deploy', async () => {
    // The deploy races c's restart: it may land before c stops, while it is
    // down, or as it starts; whichever, c must come back serving v3.
    const restarted = (async () => {
      c = await restartRegionNode(postgres, c);
    })();
    const dep = await a.node.deploy('hello', { script: HELLO('v3'), regions: ['b', 'c'] });
    expect(dep.status).toBe(200);
    await restarted;
    await waitFor('c to serve v3', async () => (await (await c.node.call('hello')).text()) === 'v3', 2_000);
  });

  it('applies 10,000 functions written at once on every node within seconds', async () => {
    // What 10,000 deploys leave in PostgreSQL, written in one statement (a
    // deploy through the API compiles in an isolate first, which is not what
    // this measures). The NOTIFY wakes every node as a deploy's does.
    const client = new pg.Client(postgres.url);
    await client.connect();
    const started = performance.now();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [0x65646766]);
      // The code of 'hello' as deployed (prepared by a node), under 10,000 names.
      await client.query(`INSERT INTO edgefn_versions (name, version, format, source, code, vars, secrets, limits, created_at)
        SELECT 'bulk-' || i, 1, v.format, v.source, v.code, '{}', '{}', '{}', now()
          FROM generate_series(1, 10000) i, (SELECT * FROM edgefn_versions WHERE name = 'hello' ORDER BY version DESC LIMIT 1) v`);
      const r = await client.query(`INSERT INTO edgefn_functions (name, version, last_version, deleted, regions, seq, created_at, updated_at)
        SELECT 'bulk-' || i, 1, 1, false, NULL, nextval('edgefn_change_seq'), now(), now() FROM generate_series(1, 10000) i RETURNING seq`);
      const last = Math.max(...r.rows.map((x: { seq: string }) => Number(x.seq)));
      await client.query(`SELECT pg_notify('edgefn_changes', $1)`, [String(last)]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    // Measures: commit to every node answering for the last and a middle function.
    const times = await Promise.all([a, b, c].map((n) => waitFor(`${n.region} to serve bulk-10000`, async () => (await n.node.call('bulk-10000')).status === 200 && (await n.node.call('bulk-5000')).status === 200, 30_000)));
    const total = performance.now() - started;
    console.log(`10,000 functions: every node served them ${total.toFixed(0)} ms after commit (per node: ${times.map((t) => t.toFixed(0)).join(', ')} ms)`);
    expect(total).toBeLessThan(30_000);
  });

  it('keeps a region serving when one of its two nodes is SIGKILLed: no request fails', async () => {
    const load = steadyLoad(a, 4);
    await waitFor('load to reach b', () => (load.byRegion['b'] ?? 0) > 20);
    const killedAt = performance.now();
    await b2.node.kill('SIGKILL');
    // GETs in flight to b2 are retried on the next candidate (b's other node, being nearer than c).
    await waitFor('more answers from b after the kill', () => load.regionAt.filter((x) => x.t > killedAt && x.region === 'b').length > 20, 5_000);
    await load.stop();
    expect(load.failures.join('\n')).toBe('');
  });

  it('fails over from a SIGKILLed region to the next nearest without failing GETs; POSTs in flight get 502; with none left, 503', async () => {
    const load = steadyLoad(a, 4);
    await waitFor('load to reach b', () => (load.byRegion['b'] ?? 0) > 20);
    // A POST in flight to b when it dies cannot be retried.
    const inFlight = a.node.call('hello', '/slow', { method: 'POST', body: 'x' });
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = performance.now();
    await b.node.kill('SIGKILL');
    const lost = await inFlight;
    expect(lost.status).toBe(502);
    expect(lost.headers.get('edgefn-error')).toBe('region-unavailable');
    // Measures: SIGKILL to the first answer from c under the load.
    await waitFor('load to reach c', () => load.regionAt.some((x) => x.t > killedAt && x.region === 'c'), 5_000);
    const gap = load.regionAt.find((x) => x.t > killedAt && x.region === 'c')!.t - killedAt;
    await new Promise((r) => setTimeout(r, 300));
    await load.stop();
    console.log(`failover: first answer from c ${gap.toFixed(0)} ms after SIGKILL of b; answers ${JSON.stringify(load.byRegion)}, failures ${load.failures.length}`);
    expect(load.failures.join('\n')).toBe('');
    // The target is 1 s (bench/regions.ts measures it: ~0.3 s); this bound
    // holds on a machine loaded several times over its cores.
    expect(gap).toBeLessThan(2_000);

    await c.node.kill('SIGKILL');
    await waitFor('a to see c down', async () => (await a.node.call('hello')).status === 503, 5_000);
    const none = await a.node.call('hello');
    expect(none.headers.get('edgefn-error')).toBe('region-unavailable');
    expect(await none.text()).toMatch(/no node there is reachable/);
  });
});
