// Question: what does the nodejs_compat flag cost a function, and should its
// Node modules come in the function's own bundle (evaluated on its cold load,
// what edgefn does) or from a second V8 snapshot that has them all? Cold start
// and heap per live isolate for workers without the flag, with the flag and
// no imports, with the usual imports, with AsyncLocalStorage, with every
// module; then isolates made from the prelude snapshot beside isolates made
// from a prelude + every-module snapshot.

import ivm from 'isolated-vm';
import { buildPrelude, DEFAULT_LIMITS, prepareScript, Runtime, type FunctionSource } from '../runtime/index.ts';
import { latencyTable, runQuestion, target, type BenchContext, type QuestionBody, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';

const MB = 1024 * 1024;

const HANDLER = `export default { fetch() { return new Response('hello'); } };\n`;
/** Each variant: its flags and the imports its script starts with. */
const VARIANTS = {
  plain: { flags: [], imports: '' },
  flag: { flags: ['nodejs_compat'], imports: '' },
  usual: { flags: ['nodejs_compat'], imports: `import { Buffer } from 'node:buffer';\nimport { EventEmitter } from 'node:events';\nimport { promisify } from 'node:util';\nglobalThis.keep = [Buffer, EventEmitter, promisify];\n` },
  als: { flags: ['nodejs_compat'], imports: `import { AsyncLocalStorage } from 'node:async_hooks';\nglobalThis.keep = new AsyncLocalStorage();\n` },
  every: {
    flags: ['nodejs_compat'],
    imports: `${['assert', 'async_hooks', 'buffer', 'crypto', 'events', 'path', 'process', 'stream', 'string_decoder', 'url', 'util'].map((m, i) => `import * as m${i} from 'node:${m}';`).join('\n')}\nglobalThis.keep = [${Array.from({ length: 11 }, (_, i) => `m${i}`).join(', ')}];\n`,
  },
} as const;
type Variant = keyof typeof VARIANTS;

async function onLoad(ctx: BenchContext, perVariant: number, samples: Record<string, Summary>, values: QuestionBody['values']): Promise<string> {
  const fns = new Map<string, FunctionSource>();
  const rt = await Runtime.create({ source: (name) => fns.get(name), poolSize: 4, maxLive: 10 * perVariant + 16, maxLiveMb: 100_000 });
  ctx.defer(() => rt.destroy());
  rt.warmPool();
  const once = (name: string) =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      rt.handle(name, 1, { method: 'GET', url: `http://${name}.localhost/`, headers: ['host', `${name}.localhost`], body: null }, {
        head: (status) => (status === 200 ? resolve(performance.now() - t) : reject(new Error(`${name}: status ${status}`))),
        chunk() {},
        end() {},
        fail: (err) => reject(new Error(`${name}: ${err.code} ${err.message}`)),
      });
    });
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    const { flags, imports } = VARIANTS[variant];
    const prepared = await prepareScript(imports + HANDLER, 'module', 'worker.js', flags);
    values[`${variant}.bundleBytes`] = prepared.code.length;
    const cold: number[] = [];
    const compile: number[] = [];
    const run: number[] = [];
    let hits = 0;
    const heapBefore = rt.stats().liveHeapBytes;
    const rssBefore = process.memoryUsage.rss();
    for (let i = 0; i < perVariant; i++) {
      const fn: FunctionSource = { name: `${variant}-${i}`, version: 1, format: 'module', code: prepared.code, env: {}, limits: { ...DEFAULT_LIMITS, cpuMs: 1000 }, compatibilityFlags: flags };
      fn.cache = rt.validate(fn); // as a deploy does
      fns.set(fn.name, fn);
      // A full pool before each cold start: the cold load is measured, not a pool miss.
      for (let k = 0; k < 200 && rt.stats().poolReady < 4; k++) await new Promise((r) => setTimeout(r, 1));
      cold.push(await once(fn.name));
      const b = rt.lastCold;
      if (b !== undefined) {
        compile.push(b.compileMs);
        run.push(b.runMs);
        if (b.cacheHit) hits++;
      }
    }
    samples[`${variant}.coldMs`] = summarize(cold);
    samples[`${variant}.compileMs`] = summarize(compile);
    samples[`${variant}.runMs`] = summarize(run);
    values[`${variant}.codeCacheHits`] = hits;
    // Every function stays live, so the live set's heap grows by exactly this variant's isolates.
    values[`${variant}.heapPerIsolateMB`] = Math.round(((rt.stats().liveHeapBytes - heapBefore) / perVariant / MB) * 100) / 100;
    values[`${variant}.rssPerIsolateMB`] = Math.round(((process.memoryUsage.rss() - rssBefore) / perVariant / MB) * 100) / 100;
    ctx.log(`${variant}: cold p50 ${samples[`${variant}.coldMs`]!.p50.toFixed(2)} ms, heap ${values[`${variant}.heapPerIsolateMB`]} MB/isolate`);
  }
  return rt.stats().snapshotPath;
}

/** Every compat module evaluated into one script, as a second snapshot would hold them. */
async function everyModuleScript(): Promise<string> {
  const p = await prepareScript(VARIANTS.every.imports + HANDLER, 'module', 'compat.js', VARIANTS.every.flags);
  return p.code;
}

async function snapshots(ctx: BenchContext, perSnapshot: number, samples: Record<string, Summary>, values: QuestionBody['values']): Promise<void> {
  const prelude = await buildPrelude();
  const warmup = prelude.warmup;
  const compat = await everyModuleScript();
  const kinds = {
    prelude: [{ code: prelude.code, filename: 'edgefn:prelude.js' }],
    'prelude+every module': [{ code: prelude.code, filename: 'edgefn:prelude.js' }, { code: compat, filename: 'edgefn:compat.js' }],
  };
  for (const [kind, scripts] of Object.entries(kinds)) {
    const t = performance.now();
    const snapshot = ivm.Isolate.createSnapshot(scripts, warmup);
    values[`snapshot.${kind}.createMs`] = Math.round(performance.now() - t);
    values[`snapshot.${kind}.bytes`] = snapshot.copy().byteLength;
    const made: ivm.Isolate[] = [];
    ctx.defer(() => made.forEach((i) => i.isDisposed || i.dispose()));
    const createMs: number[] = [];
    let heap = 0;
    const rssBefore = process.memoryUsage.rss();
    for (let i = 0; i < perSnapshot; i++) {
      const t0 = performance.now();
      const isolate = new ivm.Isolate({ memoryLimit: 128, snapshot });
      isolate.createContextSync();
      createMs.push(performance.now() - t0);
      const h = isolate.getHeapStatisticsSync();
      heap += h.total_heap_size + h.externally_allocated_size;
      made.push(isolate);
    }
    samples[`snapshot.${kind}.isolateAndContextMs`] = summarize(createMs);
    values[`snapshot.${kind}.heapPerIsolateMB`] = Math.round((heap / perSnapshot / MB) * 100) / 100;
    values[`snapshot.${kind}.rssPerIsolateMB`] = Math.round(((process.memoryUsage.rss() - rssBefore) / perSnapshot / MB) * 100) / 100;
    ctx.log(`snapshot ${kind}: ${values[`snapshot.${kind}.bytes`]} bytes, heap ${values[`snapshot.${kind}.heapPerIsolateMB`]} MB/isolate`);
  }
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const perVariant = ctx.quick ? 10 : 60;
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = {};
  const snapshotPath = await onLoad(ctx, perVariant, samples, values);
  await snapshots(ctx, perVariant, samples, values);
  const variants = Object.keys(VARIANTS) as Variant[];
  const tables: Table[] = [
    latencyTable(`cold start in the runtime (rt.handle → response head, code cache from deploy, full pool), ${perVariant} functions each`, 'plain', variants.map((v) => [v, samples[`${v}.coldMs`]]), 'ratios divide by the worker without the flag'),
    {
      title: 'what each variant carries and costs per live isolate',
      columns: ['variant', 'bundle KB', 'compile p50 ms', 'top-level run p50 ms', 'heap MB / isolate', 'RSS MB / isolate', 'code cache hits'],
      rows: variants.map((v) => [v, Math.round(Number(values[`${v}.bundleBytes`]) / 1024), samples[`${v}.compileMs`]?.p50 ?? null, samples[`${v}.runMs`]?.p50 ?? null, values[`${v}.heapPerIsolateMB`] ?? null, values[`${v}.rssPerIsolateMB`] ?? null, `${values[`${v}.codeCacheHits`]}/${perVariant}`]),
      note: 'plain: no flag; flag: nodejs_compat, no imports (Buffer and process globals); usual: node:buffer, node:events, node:util; als: node:async_hooks (async code lowered); every: all 11 modules',
    },
    {
      title: `the alternative: isolates from a second snapshot holding every module, ${perVariant} isolates each`,
      columns: ['snapshot', 'bytes', 'isolate + context p50 ms', 'heap MB / isolate', 'RSS MB / isolate'],
      rows: ['prelude', 'prelude+every module'].map((k) => [k, values[`snapshot.${k}.bytes`] ?? null, samples[`snapshot.${k}.isolateAndContextMs`]?.p50 ?? null, values[`snapshot.${k}.heapPerIsolateMB`] ?? null, values[`snapshot.${k}.rssPerIsolateMB`] ?? null]),
      note: 'isolates made on this thread with createContextSync; no boot, no function loaded',
    },
  ];
  const notes = [
    'In one process, one variant after another: JIT state is shared (later variants may be flattered a little), and RSS per isolate is the process RSS growth over the variant\'s isolates, all kept live.',
    'heap = total_heap_size + externally_allocated_size as isolated-vm reports it per isolate.',
  ];
  const plain = samples['plain.coldMs']?.p50;
  const flag = samples['flag.coldMs']?.p50;
  const targets = [
    // The flag alone (Buffer and process, built on first use) must stay close to a worker without it.
    target('nodejs_compat without imports: cold start p50 over the same worker without the flag', 'flag.coldMs.p50 − plain.coldMs.p50', '<=', 3, 'ms', plain === undefined || flag === undefined ? undefined : flag - plain),
    target('nodejs_compat without imports: heap per live isolate over without the flag', 'flag.heapPerIsolateMB − plain.heapPerIsolateMB', '<=', 0.5, 'MB', Number(values['flag.heapPerIsolateMB']) - Number(values['plain.heapPerIsolateMB'])),
  ];
  return { snapshotPath, samples, values, references: {}, targets, tables, notes };
}

if (import.meta.main) await runQuestion('node-compat', body, { fullMs: 5 * 60_000, quickMs: 90_000 });
