// Placement: a warm function's requests stay on the host where it is live,
// and move off a host that is blocked by a tenant spinning through its budget.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode({ env: { EDGEFN_HOSTS: '3' } });
  await node.deploy('neighbour', { script: `export default { fetch() { return new Response('fine'); } }` });
  await node.deploy('spinner', { script: `export default { fetch() { while (true) {} } }`, limits: { cpuMs: 1500 } });
});
afterAll(async () => {
  await node.close();
});

const cold = (r: Response) => /cold;dur=/.test(r.headers.get('server-timing') ?? '');

it('keeps a warm function on one host', async () => {
  await node.call('neighbour');
  let colds = 0;
  for (let i = 0; i < 30; i++) if (cold(await node.call('neighbour'))) colds++;
  expect(colds).toBe(0);
});

it('does not queue a warm function behind a host that is busy with a spinning tenant', async () => {
  const spins = [node.call('spinner'), node.call('spinner')];
  await new Promise((r) => setTimeout(r, 100));
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const r = await node.call('neighbour');
    expect(await r.text()).toBe('fine');
    latencies.push(performance.now() - t0);
  }
  const results = await Promise.all(spins);
  for (const r of results) expect(r.headers.get('edgefn-error')).toBe('cpu-limit');
  // Queued behind a 1.5 s spin, a request would wait for it; placed elsewhere it does not.
  expect(Math.max(...latencies)).toBeLessThan(500);
});
