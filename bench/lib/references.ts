// Starting the reference runtimes the same way in every question: workerd
// through miniflare, Vercel's edge-runtime, and a fresh node:vm context.

import { Miniflare } from 'miniflare';
import { EdgeRuntime } from 'edge-runtime';
import vm from 'node:vm';
import { Pool } from 'undici';
import { descendantPids } from './procfs.ts';
import { SCRIPT_GLOBAL } from './workers.ts';

export interface WorkerdInstance {
  url: string;
  /** workerd processes under this one (the instance's own). */
  pids: number[];
  /** Client → first response byte, by Host header. */
  call(host: string, path: string): Promise<{ status: number; ttfbMs: number }>;
  dispose(): Promise<void>;
}

/** One Miniflare (one workerd process) holding `workers`, each routed by `<name>.localhost`. */
export async function startWorkerd(workers: Array<{ name: string; module: string }>): Promise<WorkerdInstance> {
  const before = new Set(descendantPids(process.pid, 'workerd'));
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    workers: workers.map((w) => ({ name: w.name, modules: true, script: w.module, routes: [`${w.name}.localhost/*`], compatibilityDate: '2025-01-01' })),
  });
  let url: URL;
  try {
    url = await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }
  const pool = new Pool(url.origin, { connections: 64 });
  let disposed: Promise<void> | undefined;
  return {
    url: url.origin,
    pids: descendantPids(process.pid, 'workerd').filter((p) => !before.has(p)),
    async call(host, path) {
      const t0 = performance.now();
      const res = await pool.request({ method: 'GET', path, headers: { host } });
      const ttfbMs = performance.now() - t0;
      await res.body.dump();
      return { status: res.statusCode, ttfbMs };
    },
    dispose() {
      disposed ??= (async () => {
        await pool.destroy().catch(() => {});
        await mf.dispose();
      })();
      return disposed;
    },
  };
}

type FetchHandler = { fetch(req: Request, env?: unknown, ctx?: unknown): Response | Promise<Response> };

/** Vercel edge-runtime: one new EdgeRuntime per function, a module worker adapted to its fetch event. */
export function newEdgeRuntime(script: string): EdgeRuntime {
  const initialCode = `${script}\n;addEventListener('fetch', (event) => event.respondWith(${SCRIPT_GLOBAL}.default.fetch(event.request, {}, { waitUntil() {}, passThroughOnException() {} })));`;
  return new EdgeRuntime({ initialCode });
}

/** A fresh node:vm context with the host's Web globals, the worker script run in it; returns its handler. */
export function newVmContext(script: vm.Script): FetchHandler {
  const g = globalThis as Record<string, unknown>;
  const sandbox: Record<string, unknown> = {};
  for (const k of ['Request', 'Response', 'Headers', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'ReadableStream', 'WritableStream', 'TransformStream', 'Blob', 'FormData', 'AbortController', 'AbortSignal', 'crypto', 'atob', 'btoa', 'structuredClone', 'queueMicrotask', 'setTimeout', 'clearTimeout', 'console', 'DOMException', 'Event', 'EventTarget']) sandbox[k] = g[k];
  const context = vm.createContext(sandbox);
  script.runInContext(context);
  return (context as Record<string, { default: FetchHandler }>)[SCRIPT_GLOBAL]!.default;
}

/** Compile once to get V8's code cache, so node:vm gets the same head start as edgefn's deploy-time cache. */
export function vmScriptFactory(script: string): () => vm.Script {
  const first = new vm.Script(script, { filename: 'worker.js' });
  const cachedData = first.createCachedData();
  return () => new vm.Script(script, { filename: 'worker.js', cachedData });
}
