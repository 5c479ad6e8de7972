// Question 1: how long does a function that has never run take to answer its
// first request, in-node and over HTTP, next to warm requests in the same run
// and next to workerd, edge-runtime and node:vm doing the same?

import { Miniflare } from 'miniflare';
import { Pool } from 'undici';
import { DEFAULT_LIMITS, prepareScript, Runtime, type FunctionSource } from '../runtime/index.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { newEdgeRuntime, newVmContext, startWorkerd, vmScriptFactory } from './lib/references.ts';
import { latencyTable, ratio, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Reference, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { buildWorkers, type WorkerBuild } from './lib/workers.ts';

const APPS = ['hello', 'hono'] as const;
type App = (typeof APPS)[number];
const PATH: Record<App, string> = { hello: '/', hono: '/api/products/17' };

interface Sizes {
  fns: number;
  mfPerWorker: number;
  mfMulti: number;
  inProcessRefs: number;
}

/** In-node: rt.handle() → sink.head(), one never-run function after another. */
async function inNode(ctx: BenchContext, builds: Record<App, WorkerBuild>, n: number, samples: Record<string, Summary>, values: QuestionBody['values']): Promise<string> {
  const fns = new Map<string, FunctionSource>();
  const poolSize = 8;
  const rt = await Runtime.create({ source: (name) => fns.get(name), poolSize, maxLive: 2 * n + 16 });
  ctx.defer(() => rt.destroy());
  rt.warmPool();
  const once = (name: string, url: string) =>
    new Promise<{ ms: number; status: number }>((resolve) => {
      let headAt = NaN;
      let status = 0;
      const t0 = performance.now();
      rt.handle(name, 1, { method: 'GET', url, headers: ['host', `${name}.localhost`], body: null }, {
        head(s) {
          headAt = performance.now();
          status = s;
        },
        chunk() {},
        end() {},
        fail(err) {
          headAt = performance.now();
          status = 500;
          ctx.log(`in-node ${name}: ${err.code} ${err.message}`);
          setImmediate(() => resolve({ ms: headAt - t0, status }));
        },
        done() {
          resolve({ ms: headAt - t0, status });
        },
      });
    });
  for (const app of APPS) {
    const prepared = await prepareScript(builds[app].module, 'module');
    for (let i = 0; i < n; i++) {
      const fn: FunctionSource = { name: `${app}-${i}`, version: 1, format: prepared.format, code: prepared.code, env: {}, limits: { ...DEFAULT_LIMITS } };
      fn.cache = rt.validate(fn); // what deploy does: a code cache from a throwaway isolate; the function never runs live
      fns.set(fn.name, fn);
    }
    rt.warmPool();
    const cold: number[] = [];
    const warm: number[] = [];
    const parts = { takeMs: [] as number[], compileMs: [] as number[], runMs: [] as number[], installMs: [] as number[], totalMs: [] as number[], firstRequestMs: [] as number[] };
    let hits = 0;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      // Let the pool refill between cold starts (in the background, at quiet
      // moments, up to 100 ms): this measures a steady trickle of cold starts, not a burst.
      for (let k = 0; k < 100 && rt.stats().poolReady < poolSize; k++) await new Promise((r) => setTimeout(r, 1));
      const name = `${app}-${i}`;
      const before = rt.lastCold;
      const c = await once(name, `http://${name}.localhost${PATH[app]}`);
      const b = rt.lastCold === before ? undefined : rt.lastCold;
      if (b !== undefined) {
        parts.takeMs.push(b.takeMs);
        parts.compileMs.push(b.compileMs);
        parts.runMs.push(b.runMs);
        parts.installMs.push(b.installMs);
        parts.totalMs.push(b.totalMs);
        // What the cold load does not cover: dispatching the first request into the fresh isolate and its first run of the handler.
        parts.firstRequestMs.push(c.ms - b.totalMs);
        if (b.cacheHit) hits++;
      }
      const w = await once(name, `http://${name}.localhost${PATH[app]}`);
      if (c.status !== 200 || w.status !== 200) bad++;
      cold.push(c.ms);
      warm.push(w.ms);
    }
    samples[`inNode.${app}.cold`] = summarize(cold);
    samples[`inNode.${app}.warm`] = summarize(warm);
    for (const [k, v] of Object.entries(parts)) samples[`inNode.${app}.cold.${k}`] = summarize(v);
    values[`inNode.${app}.codeCacheHitRate`] = Math.round((hits / n) * 1000) / 1000;
    values[`inNode.${app}.non200`] = bad;
    values[`inNode.${app}.poolMisses`] = rt.stats().poolMisses;
  }
  const path = rt.snapshotPath;
  rt.destroy();
  return path;
}

async function inProcessRefs(builds: Record<App, WorkerBuild>, n: number, samples: Record<string, Summary>, refs: Record<string, Reference>): Promise<void> {
  for (const app of APPS) {
    const url = `http://fn.localhost${PATH[app]}`;
    const mk = vmScriptFactory(builds[app].script);
    const vmCold: number[] = [];
    const vmWarm: number[] = [];
    for (let i = 0; i < n; i++) {
      let t0 = performance.now();
      const h = newVmContext(mk());
      const r = await h.fetch(new Request(url));
      vmCold.push(performance.now() - t0);
      await r.arrayBuffer();
      t0 = performance.now();
      const r2 = await h.fetch(new Request(url));
      vmWarm.push(performance.now() - t0);
      await r2.arrayBuffer();
      if (r.status !== 200) throw new Error(`node:vm ${app}: status ${r.status}`);
    }
    samples[`nodeVm.${app}.cold`] = summarize(vmCold);
    samples[`nodeVm.${app}.warm`] = summarize(vmWarm);
    const erCold: number[] = [];
    const erWarm: number[] = [];
    for (let i = 0; i < n; i++) {
      let t0 = performance.now();
      const er = newEdgeRuntime(builds[app].script);
      const r = await er.dispatchFetch(url);
      erCold.push(performance.now() - t0);
      await r.arrayBuffer();
      t0 = performance.now();
      const r2 = await er.dispatchFetch(url);
      erWarm.push(performance.now() - t0);
      await r2.arrayBuffer();
      if (r.status !== 200) throw new Error(`edge-runtime ${app}: status ${r.status}`);
    }
    samples[`edgeRuntime.${app}.cold`] = summarize(erCold);
    samples[`edgeRuntime.${app}.warm`] = summarize(erWarm);
  }
  refs['node:vm'] = { ran: true, what: 'fresh vm context per function with the host Web globals, bundle compiled with a V8 code cache, run, fetch() called; in this process' };
  refs['edge-runtime'] = { ran: true, what: 'new EdgeRuntime({ initialCode }) per function, first dispatchFetch; in this process' };
}

async function overHttp(ctx: BenchContext, builds: Record<App, WorkerBuild>, n: number, samples: Record<string, Summary>, values: QuestionBody['values']): Promise<string | undefined> {
  const node = await EdgefnNode.start({ EDGEFN_MAX_LIVE: String(4 * n + 16) });
  ctx.defer(() => node.close());
  for (const app of APPS) {
    const names = Array.from({ length: n }, (_, i) => `${app}-${i}`);
    for (let i = 0; i < names.length; i += 4) await Promise.all(names.slice(i, i + 4).map((name) => node.deploy(name, builds[app].module)));
    await sleep(200); // deploys took pooled isolates: let the hosts refill
    const cold: number[] = [];
    const warm: number[] = [];
    const rightAfter: number[] = [];
    const serverCold: number[] = [];
    let coldMissing = 0;
    let warmWasCold = 0;
    let bad = 0;
    for (const name of names) {
      // A steady trickle of cold starts: the host refills its pool (~4 ms of
      // its event loop per isolate) after each one, so the warm request waits
      // 10 ms; a second warm request sent at once shows the refill's cost.
      const c = await node.call(name, PATH[app]);
      const r = await node.call(name, PATH[app]);
      await sleep(10);
      const w = await node.call(name, PATH[app]);
      if (c.status !== 200 || w.status !== 200 || r.status !== 200) bad++;
      rightAfter.push(r.ttfbMs);
      if (c.coldMs === undefined) coldMissing++;
      else serverCold.push(c.coldMs);
      if (w.coldMs !== undefined) warmWasCold++;
      cold.push(c.ttfbMs);
      warm.push(w.ttfbMs);
      await sleep(10);
    }
    samples[`http.${app}.cold`] = summarize(cold);
    samples[`http.${app}.warm`] = summarize(warm);
    samples[`http.${app}.warmRightAfterCold`] = summarize(rightAfter);
    samples[`http.${app}.serverTimingCold`] = summarize(serverCold);
    values[`http.${app}.coldWithoutColdEntry`] = coldMissing;
    values[`http.${app}.warmThatWasCold`] = warmWasCold;
    values[`http.${app}.non200`] = bad;
  }
  const info = await node.info();
  await node.close();
  return info.snapshotPath;
}

async function workerdRefs(ctx: BenchContext, builds: Record<App, WorkerBuild>, sizes: Sizes, samples: Record<string, Summary>, values: QuestionBody['values'], refs: Record<string, Reference>): Promise<void> {
  // One Miniflare per worker: process start + config + first response.
  for (const app of APPS) {
    const first: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < sizes.mfPerWorker; i++) {
      const t0 = performance.now();
      const mf = new Miniflare({ host: '127.0.0.1', port: 0, modules: true, script: builds[app].module, compatibilityDate: '2025-01-01' });
      try {
        const url = await mf.ready;
        const pool = new Pool(url.origin);
        try {
          const res = await pool.request({ method: 'GET', path: PATH[app] });
          first.push(performance.now() - t0);
          await res.body.dump();
          const t1 = performance.now();
          const res2 = await pool.request({ method: 'GET', path: PATH[app] });
          warm.push(performance.now() - t1);
          await res2.body.dump();
        } finally {
          await pool.destroy();
        }
      } finally {
        await mf.dispose();
      }
    }
    samples[`workerdPerWorker.${app}.first`] = summarize(first);
    samples[`workerdPerWorker.${app}.warm`] = summarize(warm);
  }
  refs['workerd: new Miniflare per worker'] = { ran: true, what: 'new Miniflare({ script }) → ready → first HTTP response head (undici, loopback)' };
  // Multi-tenant: one workerd holding many named workers routed by host.
  for (const app of APPS) {
    const m = sizes.mfMulti;
    const t0 = performance.now();
    const wd = await startWorkerd(Array.from({ length: m }, (_, i) => ({ name: `${app}-${i}`, module: builds[app].module })));
    ctx.defer(() => wd.dispose());
    values[`workerdMulti.${app}.startupMs`] = Math.round(performance.now() - t0);
    values[`workerdMulti.${app}.workers`] = m;
    const first: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < m; i++) {
      const a = await wd.call(`${app}-${i}.localhost`, PATH[app]);
      const b = await wd.call(`${app}-${i}.localhost`, PATH[app]);
      if (a.status !== 200) throw new Error(`workerd ${app}-${i}: status ${a.status}`);
      first.push(a.ttfbMs);
      warm.push(b.ttfbMs);
    }
    samples[`workerdMulti.${app}.first`] = summarize(first);
    samples[`workerdMulti.${app}.warm`] = summarize(warm);
    await wd.dispose();
  }
  refs['workerd: one Miniflare, many workers'] = { ran: true, what: 'one workerd with N named workers routed by <name>.localhost; first and second request to each over HTTP (workerd loads every worker at start-up, whose time is reported separately)' };
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const sizes: Sizes = ctx.quick ? { fns: 20, mfPerWorker: 2, mfMulti: 20, inProcessRefs: 10 } : { fns: 200, mfPerWorker: 15, mfMulti: 200, inProcessRefs: 200 };
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = {};
  const refs: Record<string, Reference> = {};
  const notes: string[] = [];
  const built = await buildWorkers();
  ctx.defer(() => built.remove());
  const builds = { hello: built.hello, hono: built.hono };
  values['hono.bundleBytes'] = built.hono.bytes;
  values['functionsPerApp'] = sizes.fns;

  ctx.log(`in-node runtime API, ${sizes.fns} functions per app`);
  const inNodePath = await inNode(ctx, builds, sizes.fns, samples, values);
  ctx.log('node:vm and edge-runtime');
  await inProcessRefs(builds, sizes.inProcessRefs, samples, refs);
  ctx.log('over HTTP through the front door');
  const httpPath = await overHttp(ctx, builds, sizes.fns, samples, values);
  ctx.log('workerd through miniflare');
  try {
    await workerdRefs(ctx, builds, sizes, samples, values, refs);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    for (const k of ['workerd: new Miniflare per worker', 'workerd: one Miniflare, many workers']) if (refs[k] === undefined) refs[k] = { ran: false, what: k, notRun: why };
  }

  const tables: Table[] = [];
  for (const app of APPS) {
    tables.push(
      latencyTable(`${app}: cold start in-process (request handed over → response head)`, 'edgefn cold', [
        ['edgefn cold', samples[`inNode.${app}.cold`]],
        ['edgefn warm', samples[`inNode.${app}.warm`]],
        ['node:vm cold', samples[`nodeVm.${app}.cold`]],
        ['node:vm warm', samples[`nodeVm.${app}.warm`]],
        ['edge-runtime cold', samples[`edgeRuntime.${app}.cold`]],
        ['edge-runtime warm', samples[`edgeRuntime.${app}.warm`]],
      ], 'ratios are the row divided by edgefn cold: above 1 means slower than edgefn'),
      latencyTable(`${app}: cold start over HTTP (client → first response byte, undici, keep-alive)`, 'edgefn cold', [
        ['edgefn cold', samples[`http.${app}.cold`]],
        ['edgefn warm', samples[`http.${app}.warm`]],
        ['edgefn warm, sent right after cold', samples[`http.${app}.warmRightAfterCold`]],
        ['workerd multi-tenant first', samples[`workerdMulti.${app}.first`]],
        ['workerd multi-tenant warm', samples[`workerdMulti.${app}.warm`]],
        ['workerd new Miniflare + first', samples[`workerdPerWorker.${app}.first`]],
      ], `edgefn's server-side cold (Server-Timing) p50 ${samples[`http.${app}.serverTimingCold`]?.p50 ?? '–'} ms; workerd multi-tenant start-up with ${values[`workerdMulti.${app}.workers`] ?? '–'} workers took ${values[`workerdMulti.${app}.startupMs`] ?? '–'} ms before the first request`),
    );
  }
  tables.push({
    title: 'in-node cold-load breakdown (ms; rt.lastCold)',
    columns: ['app', 'part', 'n', 'p50', 'p90', 'p99', 'max'],
    rows: APPS.flatMap((app) =>
      ['takeMs', 'compileMs', 'runMs', 'installMs', 'totalMs', 'firstRequestMs'].map((k) => {
        const s = samples[`inNode.${app}.cold.${k}`];
        return [app, k, s?.n ?? 0, s?.p50 ?? null, s?.p90 ?? null, s?.p99 ?? null, s?.max ?? null];
      }),
    ),
    note: `totalMs is the whole cold load; firstRequestMs is the rest of the cold request (dispatch and the handler's first run, e.g. Hono building its router). Code cache hit rate: hello ${values['inNode.hello.codeCacheHitRate']}, hono ${values['inNode.hono.codeCacheHitRate']}`,
  });

  const hc = samples['inNode.hello.cold'];
  const hw = samples['http.hello.warm'];
  const hcold = samples['http.hello.cold'];
  const targets = [
    target('in-node hello cold p50', 'inNode.hello.cold.p50', '<=', 0.3, 'ms', hc?.p50),
    target('in-node hello cold p99', 'inNode.hello.cold.p99', '<=', 1, 'ms', hc?.p99),
    target('HTTP hello cold p50 − warm p50', 'http.hello.cold.p50 - http.hello.warm.p50', '<=', 0.3, 'ms', hcold && hw ? hcold.p50 - hw.p50 : null),
  ];
  values['http.hello.coldMinusWarmP50Ms'] = hcold && hw ? Math.round((hcold.p50 - hw.p50) * 1000) / 1000 : null;
  values['http.hono.coldOverWarmP50'] = ratio(samples['http.hono.cold']?.p50, samples['http.hono.warm']?.p50);
  notes.push(
    `Hono bundle: ${built.hono.bytes} bytes (${built.honoResources} generated resource modules on top of the hand-written app); hello: ${built.hello.bytes} bytes.`,
    'Cold starts are a steady trickle: between two cold starts the runtime gets event-loop turns to refill its pool (in-node: until the pool is full; HTTP: 10 ms). A burst of cold starts larger than the pool pays isolate creation on the request path.',
    'In-node samples run in one long-lived process, as a host does; its JIT is warm for the runtime code, as a host serving traffic would be.',
    `Snapshot path: in-node ${inNodePath}, over HTTP ${httpPath ?? 'unknown'}.`,
  );
  return { snapshotPath: inNodePath === httpPath ? inNodePath : `in-node ${inNodePath}, http ${httpPath}`, samples, values, references: refs, targets, tables, notes };
}

if (import.meta.main) await runQuestion('cold-start', body, { fullMs: 8 * 60_000, quickMs: 60_000 });
