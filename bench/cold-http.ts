// Question: what does a client see of cold starts over HTTP? After a restart,
// an ordinary keep-alive client (undici, one connection) calls each of 100
// never-run functions twice in a row, as a stream of traffic, next to a warm
// loop on the same connection; then 200 never-run functions are requested at
// once from 16 connections. workerd holding the same workers does the same.

import { rmSync } from 'node:fs';
import { Connection, type CallResult } from './lib/connection.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { parallel } from './lib/parallel.ts';
import { startWorkerd } from './lib/references.ts';
import { latencyTable, ratio, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Reference, type Table, type Target } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { helloModule } from './lib/workers.ts';

const streamFn = (i: number) => `stream-${i}`;
const burstFn = (i: number) => `burst-${i}`;
/** The first request on every connection goes here: edgefn has no such function (404, no isolate touched); workerd has a worker of that name. */
const OPENER = 'opener';
/** Warm-loop requests dropped before the timed ones: the host refills its pool right after the last cold start of a pass. */
const WARM_SKIP = 20;

interface Sizes {
  stream: number;
  warm: number;
  burst: number;
  burstConnections: number;
}

interface Pass {
  first: CallResult[];
  second: CallResult[];
  warm: CallResult[];
  connects: number;
}

/**
 * On one connection: for each function, a request, its whole response, at
 * once a second request and its response, then `gapMs` before the next pair;
 * after the last pair a warm loop on the first function.
 */
async function pairs(origin: string, names: string[], gapMs: number, warm: number): Promise<Pass> {
  const conn = new Connection(origin);
  try {
    await conn.get(`${OPENER}.localhost`);
    const first: CallResult[] = [];
    const second: CallResult[] = [];
    for (const name of names) {
      first.push(await conn.get(`${name}.localhost`));
      second.push(await conn.get(`${name}.localhost`));
      if (gapMs > 0) await sleep(gapMs);
    }
    const loop: CallResult[] = [];
    for (let i = 0; i < WARM_SKIP + warm; i++) {
      const r = await conn.get(`${names[0]}.localhost`);
      if (i >= WARM_SKIP) loop.push(r);
    }
    return { first, second, warm: loop, connects: conn.connects };
  } finally {
    await conn.destroy();
  }
}

/**
 * `connections` kept-alive connections, opened first and left idle 300 ms;
 * then all start at once, each taking the next function from one queue and
 * requesting it as soon as its previous response is read.
 */
async function burst(origin: string, names: string[], connections: number): Promise<{ results: CallResult[]; wallMs: number; connects: number }> {
  const conns = Array.from({ length: connections }, () => new Connection(origin));
  try {
    await Promise.all(conns.map((c) => c.get(`${OPENER}.localhost`)));
    await sleep(300);
    const results: CallResult[] = new Array(names.length);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (c) => {
        while (next < names.length) {
          const i = next++;
          results[i] = await c.get(`${names[i]}.localhost`);
        }
      }),
    );
    return { results, wallMs: performance.now() - t0, connects: conns.reduce((s, c) => s + c.connects, 0) };
  } finally {
    await Promise.all(conns.map((c) => c.destroy()));
  }
}

const ms = (rs: CallResult[]) => rs.map((r) => r.totalMs);
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const outcomes = (rs: CallResult[]) => {
  const m = new Map<string, number>();
  for (const r of rs) if (r.status !== 200) m.set(`${r.status} ${r.error ?? ''}`.trim(), (m.get(`${r.status} ${r.error ?? ''}`.trim()) ?? 0) + 1);
  return [...m].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
};

/** Record one pass's samples and values under `key`, and return its targets. */
function recordPass(key: string, label: string, p: Pass, samples: Record<string, Summary>, values: QuestionBody['values']): Target[] {
  const first = (samples[`${key}.first`] = summarize(ms(p.first)));
  const second = (samples[`${key}.second`] = summarize(ms(p.second)));
  const warm = (samples[`${key}.warm`] = summarize(ms(p.warm)));
  // The first requests right after a restart also pay the fresh processes' JIT; this set leaves the first 10 pairs out.
  samples[`${key}.firstAfter10`] = summarize(ms(p.first.slice(10)));
  const serverCold = (samples[`${key}.serverTimingCold`] = summarize(p.first.map((r) => r.coldMs).filter((x): x is number => x !== undefined)));
  // Inside the isolate host (Server-Timing wall;dur: dispatch → response
  // head) per set, so that what a first or second request costs over a warm
  // one can be split into the host's part and the part around it (HTTP,
  // the client, the kernel, a host busy with something else when it came).
  const walls = (rs: CallResult[]) => rs.map((r) => r.wallMs).filter((x): x is number => x !== undefined);
  samples[`${key}.first.hostWall`] = summarize(walls(p.first));
  samples[`${key}.second.hostWall`] = summarize(walls(p.second));
  samples[`${key}.warm.hostWall`] = summarize(walls(p.warm));
  const secondCold = p.second.filter((r) => r.coldMs !== undefined).length;
  values[`${key}.firstWithoutColdEntry`] = p.first.filter((r) => r.coldMs === undefined).length;
  values[`${key}.secondWithColdEntry`] = secondCold;
  values[`${key}.warmWithColdEntry`] = p.warm.filter((r) => r.coldMs !== undefined).length;
  values[`${key}.non200`] = outcomes([...p.first, ...p.second, ...p.warm]);
  values[`${key}.connectionsOpened`] = p.connects;
  const overhead = first.p50 - warm.p50;
  values[`${key}.firstMinusWarmP50Ms`] = round3(overhead);
  values[`${key}.firstMinusWarmP99Ms`] = round3(first.p99 - warm.p99);
  values[`${key}.secondOverWarmP50`] = ratio(second.p50, warm.p50);
  return [
    target(`${label}: first p50 − warm p50`, `${key}.first.p50 - ${key}.warm.p50`, '<=', 0.3, 'ms', overhead),
    target(`${label}: first p99 − warm p99`, `${key}.first.p99 - ${key}.warm.p99`, '<=', 1, 'ms', first.p99 - warm.p99),
    target(`${label}: second p50 within 10 % of warm p50`, `|${key}.second.p50 ÷ ${key}.warm.p50 − 1|`, '<=', 0.1, '', Math.abs(second.p50 / warm.p50 - 1)),
    target(`${label}: client-seen cold cost matches Server-Timing`, `|(first p50 − warm p50) − ${key}.serverTimingCold.p50|`, '<=', 0.2, 'ms', Math.abs(overhead - serverCold.p50)),
    target(`${label}: second requests with a cold;dur entry`, `${key}.secondWithColdEntry`, '<=', 0, 'requests', secondCold),
  ];
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const sizes: Sizes = ctx.quick ? { stream: 20, warm: 200, burst: 32, burstConnections: 16 } : { stream: 100, warm: 1000, burst: 200, burstConnections: 16 };
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = { streamFunctions: sizes.stream, warmLoop: sizes.warm, burstFunctions: sizes.burst, burstConnections: sizes.burstConnections };
  const refs: Record<string, Reference> = {};
  const targets: Target[] = [];
  const streamNames = Array.from({ length: sizes.stream }, (_, i) => streamFn(i));
  const burstNames = Array.from({ length: sizes.burst }, (_, i) => burstFn(i));
  // Function i of either set runs hello-world with its own text, so no two deploys are byte-identical.
  const scripts = new Map([...streamNames.map((n, i) => [n, helloModule(i)] as const), ...burstNames.map((n, i) => [n, helloModule(sizes.stream + i)] as const)]);

  ctx.log(`deploying ${scripts.size} functions`);
  const deployer = await EdgefnNode.start();
  const dataDir = deployer.dataDir;
  ctx.defer(() => rmSync(dataDir, { recursive: true, force: true }));
  ctx.defer(() => deployer.close({ keepData: true }));
  const names = [...scripts.keys()];
  await parallel(names.length, 16, (i) => deployer.deploy(names[i]!, scripts.get(names[i]!)!));
  await deployer.close({ keepData: true });

  // A restart, then pairs back to back: nothing between cold starts but the client's own round trips.
  const restart = async (label: string) => {
    const n = await EdgefnNode.start({}, dataDir);
    ctx.defer(() => n.close({ keepData: true }));
    values[`${label}.restartToReadyMs`] = Math.round(n.readyAt - n.spawnedAt);
    return n;
  };
  ctx.log(`restart, ${sizes.stream} pairs back to back, warm loop of ${sizes.warm}`);
  const node1 = await restart('backToBack');
  const p1 = await pairs(node1.dataUrl, streamNames, 0, sizes.warm);
  // Pool misses come from the hosts' 1 s reports, so each reading waits 1.3 s: full runs only.
  const poolMisses = async (n: EdgefnNode) => (ctx.quick ? null : (await n.freshStats()).poolMisses);
  values['backToBack.poolMisses'] = await poolMisses(node1);
  targets.push(...recordPass('backToBack', 'back to back', p1, samples, values));
  await node1.close({ keepData: true });

  ctx.log(`restart, ${sizes.stream} pairs 10 ms apart, warm loop of ${sizes.warm}`);
  const node2 = await restart('gap10ms');
  const p2 = await pairs(node2.dataUrl, streamNames, 10, sizes.warm);
  const missesBefore = await poolMisses(node2);
  values['gap10ms.poolMisses'] = missesBefore;
  targets.push(...recordPass('gap10ms', '10 ms between pairs', p2, samples, values));

  ctx.log(`burst: ${sizes.burst} never-run functions from ${sizes.burstConnections} connections`);
  const b = await burst(node2.dataUrl, burstNames, sizes.burstConnections);
  const missesAfter = await poolMisses(node2);
  values['burst.poolMisses'] = missesAfter === null || missesBefore === null ? null : missesAfter - missesBefore;
  samples['burst'] = summarize(ms(b.results));
  samples['burst.serverTimingCold'] = summarize(b.results.map((r) => r.coldMs).filter((x): x is number => x !== undefined));
  values['burst.wallMs'] = Math.round(b.wallMs);
  values['burst.withoutColdEntry'] = b.results.filter((r) => r.coldMs === undefined).length;
  values['burst.non200'] = outcomes(b.results);
  values['burst.connectionsOpened'] = b.connects;
  const info = await node2.info();
  await node2.close({ keepData: true });

  ctx.log('workerd: the same stream and burst');
  try {
    const wd = await startWorkerd([{ name: OPENER, module: helloModule(-1) }, ...names.map((name) => ({ name, module: scripts.get(name)! }))]);
    ctx.defer(() => wd.dispose());
    const wp = await pairs(wd.url, streamNames, 0, sizes.warm);
    samples['workerd.first'] = summarize(ms(wp.first));
    samples['workerd.second'] = summarize(ms(wp.second));
    samples['workerd.warm'] = summarize(ms(wp.warm));
    values['workerd.non200'] = outcomes([...wp.first, ...wp.second, ...wp.warm]);
    const wb = await burst(wd.url, burstNames, sizes.burstConnections);
    samples['workerd.burst'] = summarize(ms(wb.results));
    values['workerd.burst.wallMs'] = Math.round(wb.wallMs);
    values['workerd.burst.non200'] = outcomes(wb.results);
    await wd.dispose();
    refs['workerd'] = { ran: true, what: `one Miniflare (one workerd) holding the same ${names.length} hello workers (and the opener), routed by host; workerd loads every worker at start-up, so its "first" is a worker's first request, not a load. Back-to-back pairs and warm loop on one connection; the burst on ${sizes.burstConnections} connections` };
  } catch (err) {
    refs['workerd'] = { ran: false, what: 'workerd through miniflare', notRun: err instanceof Error ? err.message : String(err) };
  }

  const coldNote = (key: string) => `edgefn Server-Timing cold;dur p50 ${samples[`${key}.serverTimingCold`]?.p50 ?? '–'} ms; second requests with cold;dur: ${values[`${key}.secondWithColdEntry`]}; isolates made on the request path (pool misses): ${values[`${key}.poolMisses`] ?? '–'}; sockets opened: ${values[`${key}.connectionsOpened`]}; inside the host (wall;dur p50) first / second / warm: ${['first', 'second', 'warm'].map((set) => samples[`${key}.${set}.hostWall`]?.p50 ?? '–').join(' / ')} ms`;
  const tables: Table[] = [
    latencyTable('hello after a restart: pairs back to back on one keep-alive connection (sent → body read)', 'edgefn warm', [
      ['edgefn first', samples['backToBack.first']],
      ['edgefn second', samples['backToBack.second']],
      ['edgefn warm', samples['backToBack.warm']],
      ['edgefn first, pairs 11+', samples['backToBack.firstAfter10']],
      ['workerd first', samples['workerd.first']],
      ['workerd second', samples['workerd.second']],
      ['workerd warm', samples['workerd.warm']],
    ], `ratios are the row divided by edgefn warm (same node, same connection); ${coldNote('backToBack')}`),
    latencyTable('hello after another restart: pairs 10 ms apart on one keep-alive connection (sent → body read)', 'edgefn warm', [
      ['edgefn first', samples['gap10ms.first']],
      ['edgefn second', samples['gap10ms.second']],
      ['edgefn warm', samples['gap10ms.warm']],
      ['edgefn first, pairs 11+', samples['gap10ms.firstAfter10']],
    ], `ratios are the row divided by edgefn warm (same node, same connection); ${coldNote('gap10ms')}`),
    latencyTable(`burst: ${sizes.burst} never-run hello functions, ${sizes.burstConnections} keep-alive connections at once (sent → body read)`, 'edgefn', [
      ['edgefn', samples['burst']],
      ['workerd', samples['workerd.burst']],
    ], `ratios are the row divided by edgefn: below 1 means faster than edgefn; whole burst: edgefn ${values['burst.wallMs']} ms, workerd ${values['workerd.burst.wallMs'] ?? '–'} ms; edgefn Server-Timing cold;dur p50 ${samples['burst.serverTimingCold']?.p50 ?? '–'} ms, p99 ${samples['burst.serverTimingCold']?.p99 ?? '–'} ms; pool misses ${values['burst.poolMisses'] ?? '–'}`),
  ];
  const notes = [
    `Every edgefn figure is client-observed: undici, request sent → response body fully read, on kept-alive connections opened beforehand (their first request, to "${OPENER}", is not timed).`,
    `The warm loop is ${sizes.warm} requests to the pass's first function on the same connection, right after the pairs; the ${WARM_SKIP} before them are not timed (the host refills its pool then).`,
    'The first requests after a restart include the fresh processes\' JIT warm-up, as a user restarting a node sees; "pairs 11+" leaves the first 10 out.',
  ];
  return { snapshotPath: info.snapshotPath, samples, values, references: refs, targets, tables, notes };
}

if (import.meta.main) await runQuestion('cold-http', body, { fullMs: 6 * 60_000, quickMs: 60_000 });
