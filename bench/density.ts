// Question: how many functions fit on a node? Deploy rate, resident memory
// per live isolate with 1,000 live, latency with a working set larger than
// the live cap, restart time with everything deployed; workerd for scale.

import { rmSync } from 'node:fs';
import type { CallResult } from './lib/connection.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { parallel } from './lib/parallel.ts';
import { rssBytes } from './lib/procfs.ts';
import { startWorkerd } from './lib/references.ts';
import { latencyTable, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Reference, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { helloModule } from './lib/workers.ts';

const MB = 1024 * 1024;

const fname = (i: number) => `fn-${i}`;

async function hostRss(node: EdgefnNode): Promise<{ total: number; pids: number[] }> {
  const pids = await node.hostPids();
  return { total: pids.reduce((s, p) => s + (rssBytes(p) ?? 0), 0), pids };
}

/** Zipf(s = 1) over ranks 0..n-1 by inverse CDF, from a seeded generator so runs are comparable. */
function zipf(n: number, seed: number): () => number {
  const cdf: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cdf.push((total += 1 / k));
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const q = ctx.quick;
  const deployCount = q ? 300 : 10_000;
  const liveTarget = q ? 200 : 1000;
  const extraCold = q ? 30 : 100;
  const workingSet = q ? 300 : 1000;
  const capPerHost = q ? 50 : 200;
  const zipfRequests = q ? 1500 : 10_000;
  const workerdWorkers = q ? 30 : 300;
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = {};
  const refs: Record<string, Reference> = {};
  const notes: string[] = [];

  // Phase 1: deploy, then make `liveTarget` functions live at once.
  const node = await EdgefnNode.start({ EDGEFN_MAX_LIVE: String(2 * liveTarget), EDGEFN_MAX_LIVE_MB: '1000000', EDGEFN_HOST_RSS_MB: '20000' });
  let dataDir = node.dataDir;
  ctx.defer(() => rmSync(dataDir, { recursive: true, force: true }));
  ctx.defer(() => node.close({ keepData: true }));
  ctx.log(`deploying ${deployCount} functions`);
  let t0 = performance.now();
  const deployMs = await parallel(deployCount, 16, async (i) => {
    const t = performance.now();
    await node.deploy(fname(i), helloModule(i));
    return performance.now() - t;
  });
  const deploySeconds = (performance.now() - t0) / 1000;
  values['deployed'] = deployCount;
  values['deploysPerSecond'] = Math.round(deployCount / deploySeconds);
  samples['deployLatency'] = summarize(deployMs);
  await sleep(500);
  const base = await hostRss(node);
  values['hostRssBeforeLiveMB'] = Math.round((base.total / MB) * 10) / 10;

  ctx.log(`making ${liveTarget} live`);
  const fill: CallResult[] = [];
  for (let i = 0; i < liveTarget; i += 4) fill.push(...(await Promise.all([0, 1, 2, 3].filter((k) => i + k < liveTarget).map((k) => node.call(fname(i + k))))));
  samples['firstRequestWhileFilling'] = summarize(fill.map((r) => r.ttfbMs));
  values['fillNon200'] = fill.filter((r) => r.status !== 200).length;
  const s1 = await node.freshStats();
  const after = await hostRss(node);
  values['liveIsolates'] = s1.live;
  values['hostRssWithLiveMB'] = Math.round((after.total / MB) * 10) / 10;
  const perLive = s1.live > 0 ? (after.total - base.total) / s1.live / MB : null;
  values['rssPerLiveIsolateMB'] = perLive === null ? null : Math.round(perLive * 1000) / 1000;
  values['poolMissesWhileFilling'] = s1.poolMisses;
  const warmPass: number[] = [];
  for (let i = 0; i < liveTarget; i++) warmPass.push((await node.call(fname(i))).ttfbMs);
  samples[`warmWith${liveTarget}Live`] = summarize(warmPass);
  const extra: CallResult[] = [];
  for (let i = liveTarget; i < liveTarget + extraCold; i++) {
    extra.push(await node.call(fname(i)));
    await sleep(10);
  }
  samples[`firstRequestWith${liveTarget}Live`] = summarize(extra.map((r) => r.ttfbMs));
  samples[`firstRequestWith${liveTarget}Live.serverCold`] = summarize(extra.map((r) => r.coldMs).filter((x): x is number => x !== undefined));
  await node.close({ keepData: true });

  // Phase 2: restart with everything deployed and a live cap below the working set.
  ctx.log(`restarting with ${deployCount} deployed, EDGEFN_MAX_LIVE=${capPerHost} per host`);
  t0 = performance.now();
  const node2 = await EdgefnNode.start({ EDGEFN_MAX_LIVE: String(capPerHost), EDGEFN_HOST_RSS_MB: '20000' }, dataDir);
  ctx.defer(() => node2.close());
  const printedMs = performance.now() - t0;
  let firstOk: CallResult | undefined;
  while (performance.now() - t0 < 60_000) {
    const r = await node2.call(fname(deployCount - 1));
    if (r.status === 200) {
      firstOk = r;
      break;
    }
    await sleep(5);
  }
  values['restartToAddressesMs'] = Math.round(printedMs);
  values['restartToFirst200Ms'] = firstOk === undefined ? null : Math.round(performance.now() - t0);
  const before = await node2.freshStats();
  const next = zipf(workingSet, 42);
  const order = Array.from({ length: zipfRequests }, () => next());
  const zr = await parallel(zipfRequests, 4, (i) => node2.call(fname(order[i]!)));
  const s2 = await node2.freshStats();
  const hits = zr.filter((r) => r.status === 200 && r.coldMs === undefined).length;
  samples['zipf'] = summarize(zr.map((r) => r.ttfbMs));
  samples['zipf.hits'] = summarize(zr.filter((r) => r.coldMs === undefined).map((r) => r.ttfbMs));
  samples['zipf.misses'] = summarize(zr.filter((r) => r.coldMs !== undefined).map((r) => r.ttfbMs));
  values['zipfRequests'] = zipfRequests;
  values['zipfWorkingSet'] = workingSet;
  values['liveCapPerHost'] = capPerHost;
  values['zipfHitRate'] = Math.round((hits / zipfRequests) * 1000) / 1000;
  values['zipfEvictionsPerRequest'] = Math.round(((s2.evictions - before.evictions) / zipfRequests) * 1000) / 1000;
  values['zipfNon200'] = zr.filter((r) => r.status !== 200).length;
  await node2.close();

  // workerd: RSS of one workerd with 1 worker and with N.
  try {
    const one = await startWorkerd([{ name: 'w-0', module: helloModule(0) }]);
    ctx.defer(() => one.dispose());
    await one.call('w-0.localhost', '/');
    await sleep(300);
    const rssOne = one.pids.reduce((s, p) => s + (rssBytes(p) ?? 0), 0);
    await one.dispose();
    const many = await startWorkerd(Array.from({ length: workerdWorkers }, (_, i) => ({ name: `w-${i}`, module: helloModule(i) })));
    ctx.defer(() => many.dispose());
    for (let i = 0; i < workerdWorkers; i++) await many.call(`w-${i}.localhost`, '/');
    await sleep(300);
    const rssMany = many.pids.reduce((s, p) => s + (rssBytes(p) ?? 0), 0);
    await many.dispose();
    values['workerd.workers'] = workerdWorkers;
    values['workerd.rssOneWorkerMB'] = Math.round((rssOne / MB) * 10) / 10;
    values['workerd.rssManyWorkersMB'] = Math.round((rssMany / MB) * 10) / 10;
    values['workerd.rssPerWorkerMB'] = Math.round(((rssMany - rssOne) / (workerdWorkers - 1) / MB) * 1000) / 1000;
    refs['workerd'] = { ran: true, what: `one Miniflare (one workerd process) with 1 and with ${workerdWorkers} hello workers, each requested once; (RSS(N) − RSS(1)) / (N − 1)` };
  } catch (err) {
    refs['workerd'] = { ran: false, what: 'workerd through miniflare', notRun: err instanceof Error ? err.message : String(err) };
  }

  const tables: Table[] = [
    {
      title: 'density (values)',
      columns: ['measure', 'edgefn', 'workerd'],
      rows: [
        ['functions deployed through the API', deployCount, null],
        ['deploys per second (16 in flight)', values['deploysPerSecond'] as number, null],
        ['live isolates / workers', s1.live, workerdWorkers],
        ['RSS per live isolate / worker, MB', values['rssPerLiveIsolateMB'] as number | null, (values['workerd.rssPerWorkerMB'] as number | undefined) ?? null],
        ['host RSS before / with live, MB', `${values['hostRssBeforeLiveMB']} / ${values['hostRssWithLiveMB']}`, null],
        [`restart with ${deployCount} deployed → first 200, ms`, values['restartToFirst200Ms'] as number | null, null],
        [`zipf over ${workingSet} fns, cap ${capPerHost}/host: hit rate`, values['zipfHitRate'] as number, null],
        ['zipf: evictions per request', values['zipfEvictionsPerRequest'] as number, null],
      ],
    },
    latencyTable('density latencies (client → first byte over HTTP)', `firstRequestWith${liveTarget}Live`, [
      ['deploy (PUT, 16 in flight)', samples['deployLatency']],
      ['first request while filling (4 in flight)', samples['firstRequestWhileFilling']],
      [`warmWith${liveTarget}Live`, samples[`warmWith${liveTarget}Live`]],
      [`firstRequestWith${liveTarget}Live`, samples[`firstRequestWith${liveTarget}Live`]],
      [`zipf, all (4 in flight)`, samples['zipf']],
      ['zipf, hits', samples['zipf.hits']],
      ['zipf, misses (cold)', samples['zipf.misses']],
    ]),
  ];
  const targets = [
    target('RSS per live isolate', 'rssPerLiveIsolateMB', '<=', 2, 'MB', perLive),
    target(`restart with ${deployCount} deployed until it serves`, 'restartToFirst200Ms', '<=', 5000, 'ms', values['restartToFirst200Ms'] as number | null),
  ];
  if (q) notes.push('Quick mode: 300 deployed and 200 live, so the 10,000-function targets are not really tested here.');
  notes.push(
    'RSS per live isolate = (sum of the isolate hosts\' VmRSS with the functions live − before) ÷ live count from the hosts\' own stats; allocator retention and pool refills count in it.',
    'Placement can make one function live on several hosts, so live count can exceed the number of distinct functions requested.',
  );
  return { snapshotPath: undefined, samples, values, references: refs, targets, tables, notes };
}

if (import.meta.main) await runQuestion('density', body, { fullMs: 10 * 60_000, quickMs: 90_000 });
