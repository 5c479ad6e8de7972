import { LiveIsolate } from '../runtime/live-isolate.ts';
import { prepareIsolate } from '../runtime/prepared-isolate.ts';
import { buildPrelude } from '../runtime/prelude.ts';
import { loadSnapshot } from '../runtime/snapshot.ts';
import { DEFAULT_LIMITS } from '../runtime/limits.ts';
import { prepareScript } from '../runtime/worker-script.ts';
import { buildWorkers } from './lib/workers.ts';
import type { FunctionSource } from '../runtime/function-source.ts';
const built = await buildWorkers();
const prelude = await buildPrelude();
const snap = loadSnapshot(prelude, '/tmp/diag-snap');
const hooks = { log() {}, hostOp: async () => undefined, hostOpSync: () => undefined, gone() {}, codeCache() {}, startupCpuMs: 1000 };
const prepared = await prepareScript(built.hono.module, 'module');
const fn: FunctionSource = { name: 'h', version: 1, format: prepared.format, code: prepared.code, env: {}, limits: { ...DEFAULT_LIMITS, cpuMs: 100000, wallMs: 1000000 } };
const p = prepareIsolate(snap, prelude, 128);
const live = new LiveIsolate(fn, p, hooks as never);
live.load(0);
let bytes = 0;
let resolveDone: () => void = () => {};
const sink = { head() {}, chunk(c: Uint8Array) { bytes += c.byteLength; }, end() {}, fail(e: unknown) { console.log('fail', e); }, done() { resolveDone(); } };
const req = { method: 'GET', url: 'http://h.localhost/api/products/17', headers: ['host', 'h.localhost', 'accept', '*/*', 'user-agent', 'autocannon'], body: null };
const run = async (n: number) => { for (let i = 0; i < n; i++) { const d = new Promise<void>((r) => (resolveDone = r)); live.handle(req as never, sink as never, undefined); await d; } };
await run(5000);
let t = performance.now(); await run(5000); const isoMs = (performance.now() - t) / 5000;
// the same app in this Node process
const mod = await import(built.hono.modulePath);
const app = mod.default;
const nodeRun = async (n: number) => { for (let i = 0; i < n; i++) { const r = await app.fetch(new Request('http://h.localhost/api/products/17', { headers: { accept: '*/*', 'user-agent': 'autocannon' } })); await r.text(); } };
await nodeRun(5000);
t = performance.now(); await nodeRun(5000); const nodeMs = (performance.now() - t) / 5000;
console.log('per request: isolate', (isoMs * 1000).toFixed(1), 'us; node', (nodeMs * 1000).toFixed(1), 'us');
if (process.env['PROF'] === '1') {
  p.isolate.startCpuProfiler('x');
  await run(20000);
  const profs = await p.isolate.stopCpuProfiler('x');
  const self = new Map<string, number>(); let total = 0;
  for (const tp of profs) {
    const prof = (tp as unknown as { profile: { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[] } }).profile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    for (const s of prof.samples) { const n = byId.get(s)!; const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + 1); total++; }
  }
  console.log('samples', total);
  console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 45).map(([k, v]) => `${(100 * v / total).toFixed(1)}%\t${k}`).join('\n'));
}
built.remove();
