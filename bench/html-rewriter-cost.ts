// Question: what does HTMLRewriter cost an isolate that uses it, and what
// does it cost one that does not?
//
// A standalone measurement (not one of run.ts's questions): it drives the
// runtime in this process, so it can read the process's RSS and the live
// isolates' heap. For each of N functions that transform a small page and N
// that do not, it times the first request (cold start included) and a second
// one, and reads RSS and live heap after each group is loaded. The first
// HTMLRewriter request in the process also pays the host's one-time compile
// of the module; it is reported apart.
//
//   node bench/html-rewriter-cost.ts            # N = 40
//   node bench/html-rewriter-cost.ts 100 /path/to/other/checkout   # compare a build without HTMLRewriter
//
// With a second argument, the plain functions run on that checkout's runtime
// instead (for comparing a prelude without HTMLRewriter); the rewriter half
// is skipped there.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type RuntimeModule = typeof import('../runtime/index.ts');
type FunctionSource = import('../runtime/index.ts').FunctionSource;
type Runtime = import('../runtime/index.ts').Runtime;

const N = Number(process.argv[2] ?? '40');
const root = process.argv[3] === undefined ? resolve(import.meta.dirname, '..') : resolve(process.argv[3]);
const { DEFAULT_LIMITS, prepareScript, Runtime: RuntimeClass } = (await import(pathToFileURL(`${root}/runtime/index.ts`).href)) as RuntimeModule;
const withRewriter = process.argv[3] === undefined;

const MB = 1024 * 1024;
const PLAIN = `export default { fetch() { return new Response('<a href="http://x/">x</a>', { headers: { 'content-type': 'text/html' } }); } };`;
const REWRITE = `export default { fetch() {
  return new HTMLRewriter().on('a[href]', { element(e) { e.setAttribute('href', e.getAttribute('href').replace('http:', 'https:')); } })
    .transform(new Response('<a href="http://x/">x</a>', { headers: { 'content-type': 'text/html' } }));
} };`;

function rss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? process.memoryUsage().rss : Number(m[1]) * 1024;
}

function call(rt: Runtime, name: string): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const decoder = new TextDecoder();
    let text = '';
    rt.handle(name, 1, { method: 'GET', url: `http://${name}.localhost/`, headers: ['host', `${name}.localhost`], body: null }, {
      head(_s, _h, body) {
        if (body instanceof Uint8Array) done({ ms: performance.now() - t0, body: decoder.decode(body) });
        else if (body === null) done({ ms: performance.now() - t0, body: '' });
      },
      chunk(c: Uint8Array) {
        text += decoder.decode(c, { stream: true });
        return true;
      },
      end: () => done({ ms: performance.now() - t0, body: text }),
      fail: (err) => fail(err),
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function group(rt: Runtime, prefix: string, count: number): Promise<{ first: number[]; second: number[]; rssPer: number; heapPer: number }> {
  globalThis.gc?.();
  const rss0 = rss();
  const heap0 = rt.stats().liveHeapBytes;
  const first: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < count; i++) first.push((await call(rt, `${prefix}-${i}`)).ms);
  for (let i = 0; i < count; i++) second.push((await call(rt, `${prefix}-${i}`)).ms);
  globalThis.gc?.();
  return { first, second, rssPer: (rss() - rss0) / count, heapPer: (rt.stats().liveHeapBytes - heap0) / count };
}

const plain = await prepareScript(PLAIN, 'module');
const rewrite = await prepareScript(REWRITE, 'module');
const fns = new Map<string, FunctionSource>();
for (let i = 0; i < N + 1; i++) {
  for (const [prefix, p] of [['plain', plain], ['rw', rewrite]] as const) {
    const name = `${prefix}-${i}`;
    // A roomy CPU budget: on a loaded machine a cold start alone can pass the
    // 50 ms default, and what is measured here is time, not whether it fits.
    fns.set(name, { name, version: 1, format: 'module', code: p.code, env: {}, limits: { ...DEFAULT_LIMITS, cpuMs: 2000 } });
  }
}
const rt = await RuntimeClass.create({ source: (n) => fns.get(n), poolSize: 4, maxLive: 4 * N + 10 });
try {
  // Warm the process (prelude, snapshot, JIT) with one plain function.
  await call(rt, `plain-${N}`);
  const p = await group(rt, 'plain', N);
  const lines = [
    `runtime: ${root}`,
    `plain functions (N=${N}): first request p50 ${median(p.first).toFixed(2)} ms, second ${median(p.second).toFixed(2)} ms; RSS ${(p.rssPer / MB).toFixed(2)} MB/isolate, live heap ${(p.heapPer / MB).toFixed(2)} MB/isolate`,
  ];
  if (withRewriter) {
    // The process's first HTMLRewriter use: includes the host compiling the module once.
    const t0 = performance.now();
    const once = await call(rt, `rw-${N}`);
    if (once.body !== '<a href="https://x/">x</a>') throw new Error(`unexpected body ${once.body}`);
    const processFirst = performance.now() - t0;
    const r = await group(rt, 'rw', N);
    lines.push(
      `HTMLRewriter functions (N=${N}): first request p50 ${median(r.first).toFixed(2)} ms, second ${median(r.second).toFixed(2)} ms; RSS ${(r.rssPer / MB).toFixed(2)} MB/isolate, live heap ${(r.heapPer / MB).toFixed(2)} MB/isolate`,
      `first HTMLRewriter request in the process (host compiles the module): ${processFirst.toFixed(1)} ms`,
      `difference per isolate that uses it: first request +${(median(r.first) - median(p.first)).toFixed(2)} ms, RSS +${((r.rssPer - p.rssPer) / MB).toFixed(2)} MB, heap +${((r.heapPer - p.heapPer) / MB).toFixed(2)} MB`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rt.destroy();
}
