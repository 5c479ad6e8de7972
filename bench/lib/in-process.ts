// A diagnosis for the throughput question: what one warm request costs the
// app itself, without HTTP. The same worker module runs (a) in an edgefn
// isolate, entered the way a host enters it (LiveIsolate.handle, response
// head and body handed to a sink that drops them), and (b) in this process
// on Node's own WHATWG objects (new Request → fetch() → Response text), each
// request awaited before the next. If the isolate's figure is the smaller,
// the app is not what makes edgefn slower over HTTP: the HTTP and host path
// around it is.

import { buildPrelude } from '../../runtime/prelude.ts';
import { loadSnapshot } from '../../runtime/snapshot.ts';
import { prepareIsolate } from '../../runtime/prepared-isolate.ts';
import { LiveIsolate } from '../../runtime/live-isolate.ts';
import { LazyModules } from '../../runtime/lazy-modules.ts';
import { DEFAULT_LIMITS, prepareScript, type FunctionSource } from '../../runtime/index.ts';
import type { WorkerBuild } from './workers.ts';

export interface InProcessCost {
  /** µs per request, mean over the timed run. */
  isolateUs: number;
  nodeWhatwgUs: number;
}

export async function inProcessCost(build: WorkerBuild, path: string, requests: number): Promise<InProcessCost> {
  const prelude = await buildPrelude();
  const snapshot = loadSnapshot(prelude, undefined);
  const prepared = await prepareScript(build.module, 'module');
  // A roomy budget: a loaded machine must not end the run, which measures time per request.
  const fn: FunctionSource = { name: 'diag', version: 1, format: prepared.format, code: prepared.code, env: {}, limits: { ...DEFAULT_LIMITS, cpuMs: 60_000, wallMs: 600_000 } };
  const hooks = { log() {}, hostOp: () => Promise.resolve(undefined), hostOpSync: () => undefined, gone() {}, codeCache() {}, lazyModules: new LazyModules(prelude.lazy), startupCpuMs: 1000, webSocketWallMs: 60_000 };
  const live = new LiveIsolate(fn, prepareIsolate(snapshot, prelude, 128), hooks);
  live.load(0);
  const url = `http://diag.localhost${path}`;
  const headers = ['host', 'diag.localhost', 'accept', '*/*', 'user-agent', 'bench'];
  try {
    const inIsolate = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await new Promise<void>((resolve, reject) => {
          live.handle({ method: 'GET', url, headers, body: null }, { head() {}, chunk() {}, end() {}, fail: (err) => reject(err), done: () => resolve() }, undefined);
        });
      }
    };
    const app = ((await import(build.modulePath)) as { default: { fetch(r: Request): Response | Promise<Response> } }).default;
    const inNode = async (n: number) => {
      for (let i = 0; i < n; i++) await (await app.fetch(new Request(url, { headers: { accept: '*/*', 'user-agent': 'bench' } }))).text();
    };
    const timed = async (run: (n: number) => Promise<void>) => {
      await run(requests);
      const t0 = performance.now();
      await run(requests);
      return Math.round(((performance.now() - t0) * 1000) / requests);
    };
    // Interleaved, twice each, the better of two: a shared machine's noise hits both alike.
    const a1 = await timed(inIsolate);
    const b1 = await timed(inNode);
    const a2 = await timed(inIsolate);
    const b2 = await timed(inNode);
    return { isolateUs: Math.min(a1, a2), nodeWhatwgUs: Math.min(b1, b2) };
  } finally {
    live.retire();
  }
}
