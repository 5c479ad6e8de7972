// Custom routes in a cluster of two regions on one PostgreSQL: a route
// deployed through one node reaches every node with the function, a node
// whose region does not hold the function forwards the route's requests,
// PostgreSQL refuses a pattern another function holds (409) wherever the
// deploy enters, and a delete frees the route everywhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostFetch } from '../helpers/node.ts';
import { startCluster, stopCluster, waitFor, type RegionNode } from '../helpers/cluster.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

const SHOP = `export default { fetch(req) { const u = new URL(req.url); return new Response('shop ' + u.hostname + u.pathname); } };`;

let pg: StartedPostgres;
let a: RegionNode;
let b: RegionNode;

beforeAll(async () => {
  const cluster = await startCluster({ a: 5, b: 5 });
  pg = cluster.postgres;
  [a, b] = cluster.nodes as [RegionNode, RegionNode];
}, 180_000);

afterAll(() => stopCluster(pg, [a, b]));

const call = async (n: RegionNode, host: string, path: string) => {
  const res = await hostFetch(n.node.port, host, path);
  return { status: res.status, text: await res.text(), region: res.headers.get('edgefn-region') };
};

describe('routes in a cluster', () => {
  it('replicates a route with its function: its region serves it, the other forwards to it', async () => {
    const dep = await a.node.deploy('shop', { script: SHOP, regions: ['b'], routes: ['shop.example.com/*', '*.shop.example/*'] });
    expect(dep.status, JSON.stringify(dep.json)).toBe(201);
    await waitFor('b to serve the route', async () => (await call(b, 'shop.example.com', '/x')).status === 200, 10_000);
    expect(await call(b, 'shop.example.com', '/x')).toEqual({ status: 200, text: 'shop shop.example.com/x', region: 'b' });
    // a does not hold shop: the route's requests are forwarded to b.
    expect(await call(a, 'eu.shop.example', '/y')).toEqual({ status: 200, text: 'shop eu.shop.example/y', region: 'b' });
    for (const n of [a, b]) expect(await (await n.node.api('/v1/functions/shop')).json()).toMatchObject({ routes: ['*.shop.example/*', 'shop.example.com/*'] });
  });

  it('refuses a pattern another function holds with 409, whichever node the deploy enters', async () => {
    const res = await b.node.deploy('copycat', { script: SHOP, routes: ['SHOP.example.com/*'] });
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ error: { code: 'ERR_ROUTE_CONFLICT' } });
    expect((res.json['error'] as { message: string }).message).toMatch(/already claimed by function "shop"/);
    expect((await a.node.api('/v1/functions/copycat')).status).toBe(404);
  });

  it('frees the routes on every node when the function is deleted', async () => {
    expect((await b.node.api('/v1/functions/shop', { method: 'DELETE' })).status).toBe(200);
    for (const n of [a, b]) await waitFor(`${n.region} to drop the route`, async () => (await call(n, 'shop.example.com', '/')).status === 404, 10_000);
    const res = await a.node.deploy('shop2', { script: SHOP, routes: ['shop.example.com/*'] });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    for (const n of [a, b]) await waitFor(`${n.region} to serve shop2`, async () => (await call(n, 'shop.example.com', '/z')).text === 'shop shop.example.com/z', 10_000);
  });
});
