// nodejs_compat through a real node: the flag at deploy (control API, store,
// isolate host), a Hono app bundled by the CLI's bundler that keeps its
// request context in AsyncLocalStorage across timers and outbound fetches
// while requests interleave, and the refusals: an unknown flag, a node:
// import without the flag, the flag on a service worker.

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareWorker } from '../../sdk/cli/bundle.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { startCluster, stopCluster, waitFor as waitForCluster, type RegionNode } from '../helpers/cluster.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

const WORKER = fileURLToPath(new URL('../fixtures/nodejs-compat-worker/worker.ts', import.meta.url));

let origin: Server;
let ORIGIN = '';
let node: StartedNode;

beforeAll(async () => {
  // Answers after a delay the id chooses, so the requests' fetches settle out of order.
  origin = createServer((req, res) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
    setTimeout(() => res.end(`origin saw ${id}`), id === 'a' ? 60 : 5);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  ORIGIN = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  node = await startNode({ env: { EDGEFN_FETCH_ALLOW: '127.0.0.1' } });
});
afterAll(async () => {
  await node?.close();
  origin.closeAllConnections();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

describe('nodejs_compat on a node', () => {
  it('runs a Hono app using context-storage (AsyncLocalStorage), node:buffer and node:crypto, keeping interleaved requests apart', async () => {
    const { script, bundled } = await prepareWorker(WORKER, 'module', ['nodejs_compat']);
    expect(bundled).toBe(true);
    // The CLI left the built-ins for the node to provide.
    expect(script).toMatch(/from "node:async_hooks"/);
    // A roomy CPU budget: the first request compiles Hono and the ports on a loaded machine.
    const dep = await node.deploy('hono-als', { script, vars: { ORIGIN }, compatibilityFlags: ['nodejs_compat'], limits: { cpuMs: 2000 } });
    expect(dep.status, JSON.stringify(dep.json)).toBe(201);
    const info = (await (await node.api('/v1/functions/hono-als')).json()) as Record<string, unknown>;
    expect(info['compatibilityFlags']).toEqual(['nodejs_compat']);
    // a waits longest at its timer and at the origin, so b's and c's continuations run in between on the same isolate.
    await node.call('hono-als', '/?id=warm');
    const ids = [['a', 40], ['b', 0], ['c', 10]] as const;
    const answers = await Promise.all(ids.map(async ([id, ms]) => {
      const res = await node.call('hono-als', `/?id=${id}&ms=${ms}`);
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return JSON.parse(text) as Record<string, unknown>;
    }));
    answers.forEach((body, i) => {
      const id = ids[i]![0];
      expect(body).toEqual({ seen: [id, id, id, id], origin: `origin saw ${id}`, sha256: createHash('sha256').update(id).digest('hex'), base64: Buffer.from(id).toString('base64'), processEnv: true });
    });
  });

  it('refuses an unknown flag with 400 naming it and the known ones', async () => {
    const dep = await node.deploy('bad-flag', { script: 'export default { fetch() { return new Response("x"); } }', compatibilityFlags: ['nodejs_compat', 'nodejs_als'] });
    expect(dep.status).toBe(400);
    expect(dep.json).toEqual({ error: { code: 'ERR_INVALID_INPUT', message: 'unknown compatibility flag "nodejs_als" (known: nodejs_compat, nodejs_compat_populate_process_env, nodejs_compat_do_not_populate_process_env, websocket_standard_binary_type)' } });
    const notArray = await node.deploy('bad-flag', { script: 'export default { fetch() { return new Response("x"); } }', compatibilityFlags: 'nodejs_compat' });
    expect(notArray.status).toBe(400);
    expect((notArray.json['error'] as { message: string }).message).toMatch(/"compatibilityFlags" must be an array/);
  });

  it('refuses node: imports without the flag, naming the flag, and the flag on a service worker', async () => {
    const src = `import { Buffer } from 'node:buffer'; export default { fetch() { return new Response(Buffer.from('x').toString('hex')); } }`;
    const without = await node.deploy('no-flag', { script: src });
    expect(without.status).toBe(400);
    expect(without.json['error']).toMatchObject({ code: 'ERR_SCRIPT_COMPILE' });
    expect((without.json['error'] as { message: string }).message).toMatch(/cannot resolve "node:buffer".*needs? the "nodejs_compat" compatibility flag/);
    const sw = await node.deploy('sw-flag', { script: `addEventListener('fetch', (e) => e.respondWith(new Response('x')))`, format: 'service-worker', compatibilityFlags: ['nodejs_compat'] });
    expect(sw.status).toBe(400);
    expect((sw.json['error'] as { message: string }).message).toMatch(/"nodejs_compat" compatibility flag needs a module worker/);
    // The same script deploys and runs once the flag is given; a redeploy without flags drops them.
    const withFlag = await node.deploy('no-flag', { script: src, compatibilityFlags: ['nodejs_compat'] });
    expect(withFlag.status).toBe(201);
    expect(await (await node.call('no-flag')).text()).toBe('78');
    const plain = await node.deploy('no-flag', { script: 'export default { fetch() { return new Response(typeof Buffer); } }' });
    expect(plain.status).toBe(200);
    expect(await (await node.call('no-flag')).text()).toBe('undefined');
    const info = (await (await node.api('/v1/functions/no-flag')).json()) as Record<string, unknown>;
    expect(info['compatibilityFlags']).toBeUndefined();
  });
});

describe('nodejs_compat in a cluster', () => {
  let pg: StartedPostgres | undefined;
  let nodes: RegionNode[] = [];
  afterAll(async () => {
    await stopCluster(pg, nodes);
  });

  it('replicates the flag with the version: another region runs the function with it and describes it', async () => {
    const cluster = await startCluster({ east: 5, west: 5 });
    pg = cluster.postgres;
    nodes = cluster.nodes;
    const [east, west] = [nodes[0]!.node, nodes[1]!.node];
    const script = `import { createHash } from 'node:crypto';
      export default { fetch() { return new Response(createHash('sha256').update(process.env.WORD).digest('hex') + ' ' + Buffer.from(process.env.WORD).toString('base64')); } }`;
    const dep = await east.deploy('compat-everywhere', { script, vars: { WORD: 'edge' }, compatibilityFlags: ['nodejs_compat'] });
    expect(dep.status, JSON.stringify(dep.json)).toBe(201);
    const expected = `${createHash('sha256').update('edge').digest('hex')} ${Buffer.from('edge').toString('base64')}`;
    await waitForCluster('west to serve the function', async () => (await west.call('compat-everywhere')).status === 200, 30_000);
    expect(await (await west.call('compat-everywhere')).text()).toBe(expected);
    const info = (await (await west.api('/v1/functions/compat-everywhere')).json()) as Record<string, unknown>;
    expect(info['compatibilityFlags']).toEqual(['nodejs_compat']);
  });
});
