// Question: how long does a function that has never run take to answer its
// first request inside the runtime, at a sustained 100 cold starts a second,
// next to warm requests in the same run and next to node:vm, edge-runtime and
// a workerd started per worker? (What a client sees over HTTP: cold-http.ts.)

import { availableParallelism } from 'node:os';
import { defaultPoolSize } from '../router/config.ts';
import { Miniflare } from 'miniflare';
import { Pool } from 'undici';
import { DEFAULT_LIMITS, prepareScript, Runtime, type FunctionSource } from '../runtime/index.ts';
import { newEdgeRuntime, newVmContext, vmScriptFactory } from './lib/references.ts';
import { latencyTable, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Reference, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { buildWorkers, type WorkerBuild } from './lib/workers.ts';

const APPS = ['hello', 'hono'] as const;
type App = (typeof APPS)[number];
const PATH: Record<App, string> = { hello: '/', hono: '/api/products/17' };

interface Sizes {
  fns: number;
  sustained: number;
  mfPerWorker: number;
  inProcessRefs: number;
}

/** Cold starts a second in the sustained run: one request due every 1000 / RATE ms. */
const SUSTAINED_PER_SECOND = 100;

interface Handled {
  status: number;
  /** performance.now() when rt.handle() was called, and when sink.head() came. */
  calledAt: number;
  headAt: number;
}

/** In-node: rt.handle() → sink.head(), for never-run functions. */
async function inNode(ctx: BenchContext, builds: Record<App, WorkerBuild>, sizes: Sizes, samples: Record<string, Summary>, values: QuestionBody['values']): Promise<string> {
  const fns = new Map<string, FunctionSource>();
  // The pool a node's host has on this machine (router/config.ts): its
  // default, or EDGEFN_POOL_SIZE as a node started now would read it.
  const poolSize = Number(process.env['EDGEFN_POOL_SIZE'] || defaultPoolSize(2 * availableParallelism()));
  const rt = await Runtime.create({ source: (name) => fns.get(name), poolSize, maxLive: 2 * sizes.fns + sizes.sustained + 16 });
  ctx.defer(() => rt.destroy());
  rt.warmPool();
  const once = (name: string, url: string) =>
    new Promise<Handled>((resolve) => {
      let headAt = NaN;
      let status = 0;
      const calledAt = performance.now();
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
          setImmediate(() => resolve({ status, calledAt, headAt }));
        },
        done() {
          resolve({ status, calledAt, headAt });
        },
      });
    });
  const deploy = async (app: App, name: (i: number) => string, n: number) => {
    const prepared = await prepareScript(builds[app].module, 'module');
    for (let i = 0; i < n; i++) {
      const fn: FunctionSource = { name: name(i), version: 1, format: prepared.format, code: prepared.code, env: {}, limits: { ...DEFAULT_LIMITS } };
      fn.cache = rt.validate(fn); // what deploy does: a code cache from a throwaway isolate; the function never runs live
      fns.set(fn.name, fn);
    }
    rt.warmPool();
  };

  // Paced (a diagnosis): before each cold start the pool is let refill, so
  // every cold start finds a full pool and an idle event loop.
  for (const app of APPS) {
    await deploy(app, (i) => `${app}-${i}`, sizes.fns);
    const cold: number[] = [];
    const warm: number[] = [];
    const parts = { takeMs: [] as number[], compileMs: [] as number[], runMs: [] as number[], installMs: [] as number[], totalMs: [] as number[], firstRequestMs: [] as number[] };
    let hits = 0;
    let bad = 0;
    const missesBefore = rt.stats().poolMisses;
    for (let i = 0; i < sizes.fns; i++) {
      for (let k = 0; k < 100 && rt.stats().poolReady < poolSize; k++) await new Promise((r) => setTimeout(r, 1));
      const name = `${app}-${i}`;
      const before = rt.lastCold;
      const c = await once(name, `http://${name}.localhost${PATH[app]}`);
      const coldMs = c.headAt - c.calledAt;
      const b = rt.lastCold === before ? undefined : rt.lastCold;
      if (b !== undefined) {
        parts.takeMs.push(b.takeMs);
        parts.compileMs.push(b.compileMs);
        parts.runMs.push(b.runMs);
        parts.installMs.push(b.installMs);
        parts.totalMs.push(b.totalMs);
        // What the cold load does not cover: dispatching the first request into the fresh isolate and its first run of the handler.
        parts.firstRequestMs.push(coldMs - b.totalMs);
        if (b.cacheHit) hits++;
      }
      const w = await once(name, `http://${name}.localhost${PATH[app]}`);
      if (c.status !== 200 || w.status !== 200) bad++;
      cold.push(coldMs);
      warm.push(w.headAt - w.calledAt);
    }
    samples[`paced.${app}.cold`] = summarize(cold);
    samples[`paced.${app}.warm`] = summarize(warm);
    for (const [k, v] of Object.entries(parts)) samples[`paced.${app}.cold.${k}`] = summarize(v);
    values[`paced.${app}.codeCacheHitRate`] = Math.round((hits / sizes.fns) * 1000) / 1000;
    values[`paced.${app}.non200`] = bad;
    values[`paced.${app}.poolMisses`] = rt.stats().poolMisses - missesBefore;
    for (let i = 0; i < sizes.fns; i++) rt.forget(`${app}-${i}`);
  }

  // Sustained: one never-run hello function due every 10 ms, issued on that
  // schedule whatever the pool's state (open loop: a slow cold start does not
  // delay the next). `lateness` is due → rt.handle() called: the time this
  // thread was busy (a refill, GC, the previous request) when the request was due.
  const n = sizes.sustained;
  await deploy('hello', (i) => `sustained-${i}`, n);
  const period = 1000 / SUSTAINED_PER_SECOND;
  const missesBefore = rt.stats().poolMisses;
  const pending: Array<Promise<Handled & { dueAt: number }>> = [];
  const start = performance.now() + 20;
  for (let i = 0; i < n; i++) {
    const dueAt = start + i * period;
    // Timers have 1 ms granularity, so a request goes out up to ~1 ms late even on an idle
    // thread; spinning to be punctual would take the CPU the pool's refills need.
    while (performance.now() < dueAt) await sleep(Math.max(1, dueAt - performance.now()));
    const name = `sustained-${i}`;
    pending.push(once(name, `http://${name}.localhost/`).then((h) => ({ ...h, dueAt })));
  }
  const done = await Promise.all(pending);
  const last = done[done.length - 1];
  samples['sustained.hello.cold'] = summarize(done.map((h) => h.headAt - h.calledAt));
  samples['sustained.hello.dueToHead'] = summarize(done.map((h) => h.headAt - h.dueAt));
  samples['sustained.hello.lateness'] = summarize(done.map((h) => h.calledAt - h.dueAt));
  values['sustained.hello.requests'] = n;
  values['sustained.hello.achievedPerSecond'] = last === undefined || n < 2 ? null : Math.round(((n - 1) / (last.calledAt - start)) * 1000 * 10) / 10;
  values['sustained.hello.poolMisses'] = rt.stats().poolMisses - missesBefore;
  values['sustained.hello.non200'] = done.filter((h) => h.status !== 200).length;
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

async function workerdPerWorker(builds: Record<App, WorkerBuild>, sizes: Sizes, samples: Record<string, Summary>, refs: Record<string, Reference>): Promise<void> {
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
  refs['workerd: new Miniflare per worker'] = { ran: true, what: 'new Miniflare({ script }) → ready → first HTTP response head (undici, loopback): the cost of a process per function' };
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const sizes: Sizes = ctx.quick ? { fns: 20, sustained: 50, mfPerWorker: 2, inProcessRefs: 10 } : { fns: 200, sustained: 500, mfPerWorker: 15, inProcessRefs: 200 };
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = {};
  const refs: Record<string, Reference> = {};
  const built = await buildWorkers();
  ctx.defer(() => built.remove());
  const builds = { hello: built.hello, hono: built.hono };
  values['hono.bundleBytes'] = built.hono.bytes;
  values['functionsPerApp'] = sizes.fns;

  ctx.log(`in-node runtime API: ${sizes.fns} functions per app paced, ${sizes.sustained} hello at ${SUSTAINED_PER_SECOND}/s`);
  const path = await inNode(ctx, builds, sizes, samples, values);
  ctx.log('node:vm and edge-runtime');
  await inProcessRefs(builds, sizes.inProcessRefs, samples, refs);
  ctx.log('workerd started per worker');
  try {
    await workerdPerWorker(builds, sizes, samples, refs);
  } catch (err) {
    refs['workerd: new Miniflare per worker'] = { ran: false, what: 'workerd through miniflare', notRun: err instanceof Error ? err.message : String(err) };
  }

  const tables: Table[] = [
    latencyTable(`hello: sustained ${SUSTAINED_PER_SECOND} cold starts/s in-process, one never-run function due every ${1000 / SUSTAINED_PER_SECOND} ms`, 'edgefn cold, handle → head', [
      ['edgefn cold, handle → head', samples['sustained.hello.cold']],
      ['edgefn cold, due → head', samples['sustained.hello.dueToHead']],
      ['edgefn lateness, due → handle', samples['sustained.hello.lateness']],
      ['edgefn cold, paced (diagnosis)', samples['paced.hello.cold']],
      ['edgefn warm', samples['paced.hello.warm']],
    ], `ratios are the row divided by the sustained cold; due → head adds the lateness: the time this thread was busy when the request was due (a refill, an isolate made on the request path, the previous request) plus up to ~1 ms of timer granularity; pool misses (isolates made on the request path): ${values['sustained.hello.poolMisses']} of ${values['sustained.hello.requests']}; achieved ${values['sustained.hello.achievedPerSecond']}/s`),
  ];
  for (const app of APPS) {
    tables.push(
      latencyTable(`${app}: cold start in-process, paced (a diagnosis: the pool is let refill before each cold start)`, 'edgefn cold', [
        ['edgefn cold', samples[`paced.${app}.cold`]],
        ['edgefn warm', samples[`paced.${app}.warm`]],
        ['node:vm cold', samples[`nodeVm.${app}.cold`]],
        ['node:vm warm', samples[`nodeVm.${app}.warm`]],
        ['edge-runtime cold', samples[`edgeRuntime.${app}.cold`]],
        ['edge-runtime warm', samples[`edgeRuntime.${app}.warm`]],
      ], 'ratios are the row divided by edgefn cold: above 1 means slower than edgefn; edgefn is rt.handle() → sink.head(), the references request → response'),
    );
  }
  tables.push(
    {
      title: 'in-node cold-load breakdown, paced (ms; rt.lastCold)',
      columns: ['app', 'part', 'n', 'p50', 'p90', 'p99', 'max'],
      rows: APPS.flatMap((app) =>
        ['takeMs', 'compileMs', 'runMs', 'installMs', 'totalMs', 'firstRequestMs'].map((k) => {
          const s = samples[`paced.${app}.cold.${k}`];
          return [app, k, s?.n ?? 0, s?.p50 ?? null, s?.p90 ?? null, s?.p99 ?? null, s?.max ?? null];
        }),
      ),
      note: `totalMs is the whole cold load; firstRequestMs is the rest of the cold request (dispatch and the handler's first run, e.g. Hono building its router). Code cache hit rate: hello ${values['paced.hello.codeCacheHitRate']}, hono ${values['paced.hono.codeCacheHitRate']}`,
    },
    latencyTable('workerd started per worker (new Miniflare → ready → first response head over HTTP)', 'hello first', [
      ['hello first', samples['workerdPerWorker.hello.first']],
      ['hello warm', samples['workerdPerWorker.hello.warm']],
      ['hono first', samples['workerdPerWorker.hono.first']],
      ['hono warm', samples['workerdPerWorker.hono.warm']],
    ], 'the cost of one process per function; ratios are the row divided by hello first'),
  );

  const sc = samples['sustained.hello.cold'];
  const targets = [
    target(`in-node hello cold p50 at ${SUSTAINED_PER_SECOND}/s (handle → head)`, 'sustained.hello.cold.p50', '<=', 0.3, 'ms', sc?.p50),
    target(`in-node hello cold p99 at ${SUSTAINED_PER_SECOND}/s (handle → head)`, 'sustained.hello.cold.p99', '<=', 1, 'ms', sc?.p99),
  ];
  const notes = [
    `Hono bundle: ${built.hono.bytes} bytes (${built.honoResources} generated resource modules on top of the hand-written app); hello: ${built.hello.bytes} bytes.`,
    `Sustained: requests are issued on a fixed ${1000 / SUSTAINED_PER_SECOND} ms schedule whatever the pool holds (open loop), so refills compete with cold starts as they do under traffic. Paced is a diagnosis: before each cold start the bench waits (up to 100 ms) until the pool is full again, so it shows a cold start on an idle runtime, not one under a stream.`,
    'In-node samples run in one long-lived process, as a host does; its JIT is warm for the runtime code (the paced runs come first), as a host serving traffic would be.',
  ];
  return { snapshotPath: path, samples, values, references: refs, targets, tables, notes };
}

if (import.meta.main) await runQuestion('cold-start', body, { fullMs: 8 * 60_000, quickMs: 60_000 });
