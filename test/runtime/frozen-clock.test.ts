// The production entry path (runtime/live-isolate.ts) freezes the isolate's
// clocks for each entry: a request that spins reads no time passing, and the
// clocks move across an awaited timer (runtime/webapi/clock.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, prepareScript, Runtime, type FunctionSource } from '../../runtime/index.ts';

const runtimes: Runtime[] = [];
afterEach(() => {
  for (const r of runtimes.splice(0)) r.destroy();
});

function call(rt: Runtime, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    rt.handle(name, 1, { method: 'GET', url: `http://${name}.localhost/`, headers: ['host', `${name}.localhost`], body: null }, {
      head: (_status, _h, body) => resolve(body instanceof Uint8Array ? new TextDecoder().decode(body) : String(body)),
      chunk() {},
      end() {},
      fail: (err) => reject(err),
    });
  });
}

// 1e8 additions: 50 ms or more on this machine; the test times it from outside.
const WORKER = `export default { async fetch() {
  const d0 = Date.now(), n0 = new Date().getTime(), p0 = performance.now();
  let x = 0; for (let i = 0; i < 1e8; i++) x += i;
  await null;
  const spin = [Date.now() - d0, new Date().getTime() - n0, performance.now() - p0, x > 0];
  await new Promise((r) => setTimeout(r, 5));
  const slept = [Date.now() - d0, performance.now() - p0];
  return Response.json({ spin, slept });
} }`;

describe('frozen clocks in a live isolate', () => {
  it('reads 0 ms across a 20+ ms spin, and at least 5 ms across a 5 ms timer', async () => {
    const p = await prepareScript(WORKER, 'module');
    const fn: FunctionSource = { name: 'clock', version: 1, format: 'module', code: p.code, env: {}, limits: { ...DEFAULT_LIMITS, cpuMs: 5_000 } };
    const rt = await Runtime.create({ source: (n) => (n === 'clock' ? fn : undefined), poolSize: 1 });
    runtimes.push(rt);
    const started = performance.now();
    const { spin, slept } = JSON.parse(await call(rt, 'clock')) as { spin: unknown[]; slept: number[] };
    expect(performance.now() - started).toBeGreaterThan(25);
    expect(spin).toEqual([0, 0, 0, true]);
    expect(slept[0]).toBeGreaterThanOrEqual(5);
    expect(slept[1]).toBeGreaterThanOrEqual(5);
  });
});
