// CPU, memory and wall-time budgets: the offender gets a clear 503, its isolate
// is discarded, and everyone else keeps being served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
  await node.deploy('neighbour', { script: `export default { fetch() { return new Response('fine'); } }` });
});
afterAll(async () => {
  await node.close();
});

const cpuOf = (res: Response) => Number(/cpu;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
const serverTimingMs = (res: Response, name: string) => Number(new RegExp(`${name};dur=([\\d.]+)`).exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
const isCold = (res: Response) => /cold;dur=/.test(res.headers.get('server-timing') ?? '');

/** Hammer the neighbour until `until` settles; every answer must be 200 'fine'. */
async function neighbourDuring<T>(until: Promise<T>): Promise<{ result: T; statuses: number[] }> {
  const statuses: number[] = [];
  let done = false;
  const loop = (async () => {
    while (!done) {
      const r = await node.call('neighbour');
      statuses.push(r.status);
      expect(await r.text()).toBe('fine');
    }
  })();
  const result = await until;
  done = true;
  await loop;
  return { result, statuses };
}

describe('CPU budget', () => {
  it('stops while (true) {} near its 50 ms budget with 503 cpu-limit while a neighbour keeps answering', async () => {
    await node.deploy('spin', { script: `export default { fetch() { while (true) {} } }`, limits: { cpuMs: 50 } });
    const t0 = performance.now();
    const { result: res, statuses } = await neighbourDuring(node.call('spin'));
    const wall = performance.now() - t0;
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('cpu-limit');
    expect(await res.text()).toMatch(/CPU time limit of 50 ms exceeded/);
    // The charge is the CPU the loop really got: about the budget (the
    // in-entry guard is wall time, stretched by the host's recent share of a
    // CPU, so under load it can pass the budget by that estimate's error; the
    // bench measures the overshoot). The stretch is at most 2.5× (cpu-clock.ts),
    // so a loop whose host had little CPU when the entry began and all of it
    // after can run up to 125 ms, plus the time to stop it: 145.85 ms was seen
    // in a plain suite run. Past 150 ms the guard did not hold. The whole
    // call, cold start and a loaded machine's queueing included, ends in
    // seconds at most: a guard that failed would leave it to the 30 s wall budget.
    expect(cpuOf(res)).toBeLessThan(150);
    expect(wall).toBeLessThan(5000);
    // Not stopped early: the loop had its budget of CPU, or, on a machine so
    // busy that its thread barely ran (the charge then says so: 0.000 was
    // seen in a suite run), the in-entry guard gave it at least the budget in
    // wall time (Server-Timing wall;dur less the cold start).
    const entryWall = serverTimingMs(res, 'wall') - (serverTimingMs(res, 'cold') || 0);
    expect(Math.max(cpuOf(res), entryWall)).toBeGreaterThanOrEqual(45);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('stops a loop that starts after an await on a timer', async () => {
    await node.deploy('spin-after-await', { script: `export default { async fetch() { await new Promise((r) => setTimeout(r, 20)); await null; while (true) {} } }`, limits: { cpuMs: 50 } });
    const { result: res, statuses } = await neighbourDuring(node.call('spin-after-await'));
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('cpu-limit');
    expect(cpuOf(res)).toBeLessThan(100);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('stops a loop that runs after the request body arrives', async () => {
    await node.deploy('spin-after-body', { script: `export default { async fetch(req) { await req.arrayBuffer(); while (true) {} } }`, limits: { cpuMs: 30 } });
    const res = await node.call('spin-after-body', '/', { method: 'POST', body: new Uint8Array(200_000) });
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('cpu-limit');
    expect(await res.text()).toMatch(/30 ms/);
  });

  it('discards an isolate stopped for CPU: the next request starts cold and is served', async () => {
    await node.deploy('sometimes-spins', { script: `let n = 0; export default { fetch(req) { n++; if (new URL(req.url).searchParams.has('spin')) while (true) {} return new Response('n=' + n); } }` });
    const warmup = await node.call('sometimes-spins');
    expect(await warmup.text()).toBe('n=1');
    const again = await node.call('sometimes-spins');
    expect(await again.text()).toBe('n=2');
    expect((await node.call('sometimes-spins', '/?spin')).status).toBe(503);
    const after = await node.call('sometimes-spins');
    expect(await after.text()).toBe('n=1');
    expect(isCold(after)).toBe(true);
  });
});

describe('optimized code in every isolate (runtime/v8-flags.ts)', () => {
  it("charges a hot loop its optimized cost in each function's isolate, not fifteen times that in most of them", async () => {
    // What is measured: the CPU each call is charged (Server-Timing cpu, CPU
    // time and not wall time, so a loaded machine does not move it much).
    // This loop costs ~6 ms a call once V8 optimizes it; under V8 13.6's
    // default flags it stayed unoptimized at ~95 ms a call in most isolates,
    // for every call. Four functions are four isolates; each must reach the
    // optimized cost by its third call (bound 40 ms: 6× the optimized cost,
    // less than half the unoptimized one).
    const script = `const work = () => { let x = 0; for (let i = 0; i < 20_000_000; i++) x = (x + i) | 0; return x !== 1; };
      export default { fetch() { return new Response(String(work())); } }`;
    const charged: number[][] = [];
    for (let f = 0; f < 4; f++) {
      await node.deploy(`hot-loop-${f}`, { script, limits: { cpuMs: 2_000 } });
      const calls: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await node.call(`hot-loop-${f}`);
        expect(await res.text()).toBe('true');
        calls.push(cpuOf(res));
      }
      charged.push(calls);
    }
    for (const calls of charged) expect(Math.min(...calls.slice(2)), `CPU charged per call, ms: ${JSON.stringify(charged)}`).toBeLessThan(40);
  });
});

describe('host work done for the tenant', () => {
  it('charges WebCrypto work on the host to the CPU budget: RSA key generation in a loop is stopped', async () => {
    await node.deploy('keygen', {
      script: `export default { async fetch() {
        for (;;) await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['sign']);
      } }`,
      limits: { cpuMs: 50 },
    });
    const t0 = performance.now();
    const res = await node.call('keygen');
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('cpu-limit');
    expect(cpuOf(res)).toBeGreaterThan(50);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(await (await node.call('neighbour')).text()).toBe('fine');
  });
});

describe('memory budget', () => {
  it('stops an allocation bomb with 503 memory-limit, and the node keeps serving', async () => {
    await node.deploy('bomb', { script: `export default { fetch() { const a = []; while (true) a.push({ x: new Array(1000).fill(Math.random()) }); } }`, limits: { memoryMb: 32, cpuMs: 10000 } });
    const { result: res, statuses } = await neighbourDuring(node.call('bomb'));
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('memory-limit');
    expect(await res.text()).toMatch(/memory limit of 32 MB exceeded/);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await (await node.call('neighbour')).text()).toBe('fine');
  });

  it('stops an ArrayBuffer bomb at the default 128 MB', async () => {
    await node.deploy('bufbomb', { script: `export default { fetch() { const keep = []; while (true) keep.push(new Uint8Array(1024 * 1024).fill(1)); } }`, limits: { cpuMs: 10000 } });
    const res = await node.call('bufbomb');
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('memory-limit');
    expect(await res.text()).toMatch(/memory limit of 128 MB exceeded/);
    expect(await (await node.call('neighbour')).text()).toBe('fine');
  });
});

describe('an isolate isolated-vm cannot stop', () => {
  it('ends a runaway array-fill bomb within seconds (watchdog thread), and the node keeps serving', async () => {
    // At a 128 MB limit this pattern sometimes leaves V8 stuck near its heap
    // limit where neither timeout nor memoryLimit fires (seen growing past 6 GB).
    await node.deploy('fillbomb', { script: `export default { fetch() { const keep = []; let i = 0; while (true) keep.push(new Array(4096).fill(i++)); } }` });
    for (let round = 0; round < 3; round++) {
      const t0 = performance.now();
      const res = await node.call('fillbomb');
      expect(res.status).toBe(503);
      expect(['memory-limit', 'cpu-limit', 'host-restart']).toContain(res.headers.get('edgefn-error'));
      expect(performance.now() - t0).toBeLessThan(5000);
      let fine: Response | undefined;
      for (let i = 0; i < 50; i++) {
        fine = await node.call('neighbour');
        if (fine.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await fine!.text()).toBe('fine');
    }
  });
});

describe('wall-time budget', () => {
  it("aborts the request's signal when the wall budget ends it", async () => {
    await node.deploy('listens', { script: `export default { fetch(req) { const s = req.signal; s.addEventListener('abort', () => console.log('aborted: ' + s.reason.name + ' ' + s.reason.message)); return new Promise(() => {}); } }`, limits: { wallMs: 200 } });
    const res = await node.call('listens');
    expect(res.headers.get('edgefn-error')).toBe('wall-limit');
    let lines: string[] = [];
    for (let i = 0; i < 20 && lines.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      lines = ((await (await node.api('/v1/functions/listens/logs')).json()) as { logs: Array<{ message: string }> }).logs.map((l) => l.message);
    }
    expect(lines).toContain('aborted: AbortError wall time limit of 200 ms exceeded');
  });

  it('ends a request that waits past its wall budget with 503 wall-limit', async () => {
    await node.deploy('slow', { script: `export default { async fetch() { await new Promise((r) => setTimeout(r, 5000)); return new Response('late'); } }`, limits: { wallMs: 300 } });
    const t0 = performance.now();
    const res = await node.call('slow');
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('wall-limit');
    expect(await res.text()).toMatch(/wall time limit of 300 ms exceeded/);
    expect(performance.now() - t0).toBeLessThan(2000);
    // Not a CPU or memory violation: the isolate stays live and keeps serving.
    const again = await node.call('slow');
    expect(again.headers.get('edgefn-error')).toBe('wall-limit');
  });
});
