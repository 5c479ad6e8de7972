// Placement of new connections: a warm function's connections go to the host
// where it is live, and away from a host that is blocked by a tenant spinning
// through its budget. Each call here opens its own connection (as a client
// without keep-alive would), because placement is decided per connection;
// requests on a kept-alive connection stay on its host (README: how a request
// travels).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Client } from 'undici';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode({ env: { EDGEFN_HOSTS: '3' } });
  // Spins through its budget when asked to, which blocks the host where it
  // is live for 1.5 s; otherwise answers at once.
  await node.deploy('neighbour', {
    script: `export default { fetch(req) { if (new URL(req.url).searchParams.has('spin')) while (true) {} return new Response('fine'); } }`,
    limits: { cpuMs: 1500 },
  });
});
afterAll(async () => {
  await node.close();
});

async function onNewConnection(name: string, path = '/'): Promise<{ cold: boolean; text: string; ms: number; error: string | undefined }> {
  const client = new Client(`http://127.0.0.1:${node.port}`);
  const t0 = performance.now();
  try {
    const res = await client.request({ path, method: 'GET', headers: { host: `${name}.localhost` } });
    const text = await res.body.text();
    const error = res.headers['edgefn-error'];
    return { cold: /cold;dur=/.test(String(res.headers['server-timing'] ?? '')), text, ms: performance.now() - t0, error: typeof error === 'string' ? error : undefined };
  } finally {
    await client.close();
  }
}

async function blockedHosts(): Promise<number> {
  return (await node.hosts()).filter((h) => h.blocked).length;
}

it('places every new connection of a warm function on the host where it is live', async () => {
  // The first connection goes to the host with the fewest connections; kept
  // open, it makes that host the busiest, so a placement that ignored where
  // the function lives would send the next connections elsewhere, cold.
  const first = new Client(`http://127.0.0.1:${node.port}`);
  try {
    const res = await first.request({ path: '/', method: 'GET', headers: { host: 'neighbour.localhost' } });
    await res.body.text();
    expect(String(res.headers['server-timing'])).toMatch(/cold;dur=/);
    let colds = 0;
    for (let i = 0; i < 30; i++) if ((await onNewConnection('neighbour')).cold) colds++;
    expect(colds).toBe(0);
  } finally {
    await first.close();
  }
});

it('places new connections away from the host where the function is live while that host is blocked', async () => {
  // A request that spins on the host where 'neighbour' is warm blocks it.
  const spin = onNewConnection('neighbour', '/?spin');
  // Until a host has been silent for its blocked threshold, nothing can tell
  // a spin from a short entry; wait until the node itself says so.
  const deadline = Date.now() + 5000;
  while ((await blockedHosts()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(await blockedHosts()).toBe(1);
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await onNewConnection('neighbour');
    expect(r.text).toBe('fine');
    latencies.push(r.ms);
  }
  expect((await spin).error).toBe('cpu-limit');
  // Behind a 1.5 s spin a request would wait for it (over a second); placed
  // on a free host it is served at once. 500 ms leaves room for a loaded
  // machine and one cold start.
  expect(Math.max(...latencies)).toBeLessThan(500);
});
