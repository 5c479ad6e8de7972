// Question: do budgets hold? How far past a 50 ms CPU budget does a
// runaway loop get, what does a spinning tenant do to a neighbour's latency,
// and how fast is a 128 MB allocation bomb stopped and at what memory cost?

import type { CallResult } from './lib/connection.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { rssBytes } from './lib/procfs.ts';
import { latencyTable, ratio, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';

const CPU_MS = 50;
const MEMORY_MB = 128;
const MB = 1024 * 1024;

const SPIN = `export default { fetch() { while (true) {} } };\n`;
const NEIGHBOUR = `export default { fetch() { return new Response('neighbour'); } };\n`;
// Objects kept reachable until the heap limit: the budget is the heap, not the CPU (its CPU budget is raised).
const BOMBS = {
  arrays: `export default { fetch() { const keep = []; for (let i = 0; ; i++) keep.push(new Array(4096).fill(i)); } };\n`,
  objects: `export default { fetch() { const keep = []; for (let i = 0; ; i++) keep.push({ i, s: 'item-' + i, next: keep[i - 1] }); } };\n`,
} as const;
type BombKind = keyof typeof BOMBS;

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const q = ctx.quick;
  const runaways = q ? 15 : 100;
  const neighbourSeconds = q ? 1.5 : 5;
  const bombs = q ? 1 : 3;
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = {};
  const notes: string[] = [];

  const node = await EdgefnNode.start({ EDGEFN_CPU_MS: String(CPU_MS), EDGEFN_MEMORY_MB: String(MEMORY_MB) });
  ctx.defer(() => node.close());
  await node.deploy('spin', SPIN);
  await node.deploy('neighbour', NEIGHBOUR);
  for (const [kind, src] of Object.entries(BOMBS)) await node.deploy(`bomb-${kind}`, src, { cpuMs: 10_000, memoryMb: MEMORY_MB });

  // 1. Runaway loops, one at a time.
  ctx.log(`${runaways} runaway requests at ${CPU_MS} ms`);
  const run: CallResult[] = [];
  for (let i = 0; i < runaways; i++) {
    run.push(await node.call('spin'));
    await sleep(10);
  }
  const cpuLimited = run.filter((r) => r.status === 503 && r.error === 'cpu-limit');
  const overshoot = cpuLimited.map((r) => r.cpuMs).filter((x): x is number => x !== undefined).map((c) => c - CPU_MS);
  samples['runaway.overshootMs'] = summarize(overshoot);
  samples['runaway.wallMs'] = summarize(run.map((r) => r.totalMs));
  values['runaway.requests'] = runaways;
  values['runaway.cpuLimit503'] = cpuLimited.length;
  values['runaway.withoutCpuTiming'] = cpuLimited.length - overshoot.length;
  values['runaway.otherOutcomes'] = run.filter((r) => !(r.status === 503 && r.error === 'cpu-limit')).map((r) => `${r.status} ${r.error ?? ''}`.trim()).join(', ') || 'none';

  // 2. Neighbour latency with 0, 1, 2 tenants spinning (closed-loop clients).
  for (let i = 0; i < 20; i++) await node.call('neighbour');
  for (const spinners of [0, 1, 2]) {
    ctx.log(`neighbour with ${spinners} spinning`);
    let stop = false;
    let spun = 0;
    const loops = Array.from({ length: spinners }, async () => {
      while (!stop) {
        await node.call('spin');
        spun++;
      }
    });
    await sleep(spinners > 0 ? 200 : 0);
    const lat: number[] = [];
    const end = performance.now() + neighbourSeconds * 1000;
    let bad = 0;
    while (performance.now() < end) {
      const r = await node.call('neighbour');
      if (r.status !== 200) bad++;
      lat.push(r.ttfbMs);
      await sleep(2);
    }
    stop = true;
    await Promise.all(loops);
    samples[`neighbour.${spinners}Spinning`] = summarize(lat);
    values[`neighbour.${spinners}Spinning.non200`] = bad;
    values[`neighbour.${spinners}Spinning.spinRequests`] = spun;
  }

  // 3. Allocation bombs against a 128 MB heap limit.
  await node.call('neighbour');
  const baseline = (await node.hostPids()).reduce((s, p) => s + (rssBytes(p) ?? 0), 0);
  for (const kind of Object.keys(BOMBS) as BombKind[]) {
    ctx.log(`${bombs} ${kind} allocation bomb(s) at ${MEMORY_MB} MB`);
    const stopMs: number[] = [];
    const peakDelta: number[] = [];
    const outcomes: string[] = [];
    for (let i = 0; i < bombs; i++) {
      const live = await node.hostPids();
      const before = live.reduce((s, p) => s + (rssBytes(p) ?? 0), 0);
      let peak = before;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, live.reduce((s, p) => s + (rssBytes(p) ?? 0), 0));
          await sleep(2);
        }
      })();
      const r = await node.call(`bomb-${kind}`);
      sampling = false;
      await sampler;
      if (node.child.exitCode !== null || node.child.signalCode !== null) throw new Error(`the edgefn node exited during an allocation bomb:\n${node.output().slice(-2000)}`);
      stopMs.push(r.totalMs);
      peakDelta.push((peak - before) / MB);
      outcomes.push(`${r.status} ${r.error ?? ''}`.trim());
      // A killed host is replaced; wait until every host is back.
      for (let k = 0; k < 100 && (await node.info()).hosts.some((h) => h.state !== 'ready'); k++) await sleep(100);
      await sleep(300);
    }
    samples[`bomb.${kind}.timeToStopMs`] = summarize(stopMs);
    samples[`bomb.${kind}.peakHostRssIncreaseMB`] = summarize(peakDelta);
    values[`bomb.${kind}.outcomes`] = [...new Set(outcomes)].map((o) => `${outcomes.filter((x) => x === o).length}× ${o}`).join(', ');
  }
  values['bomb.hostRssBaselineMB'] = Math.round((baseline / MB) * 10) / 10;
  const info = await node.info();
  values['hostRestarts'] = info.hostRestarts;

  const alone = samples['neighbour.0Spinning'];
  const tables: Table[] = [
    {
      title: `runaway loop (while (true) {}) at a ${CPU_MS} ms CPU budget, ${runaways} requests`,
      columns: ['what', 'n', 'p50', 'p90', 'p99', 'max'],
      rows: [
        ['overshoot: cpu;dur − 50 (ms)', ...row(samples['runaway.overshootMs'])],
        ['client wall time (ms)', ...row(samples['runaway.wallMs'])],
      ],
      note: `${cpuLimited.length} of ${runaways} ended 503 cpu-limit; other outcomes: ${values['runaway.otherOutcomes']}`,
    },
    latencyTable('neighbour tenant (hello) latency while others spin, client → first byte', 'alone', [
      ['alone', alone],
      ['1 spinning', samples['neighbour.1Spinning']],
      ['2 spinning', samples['neighbour.2Spinning']],
    ], 'ratios divide by the neighbour alone'),
    {
      title: `allocation bomb at ${MEMORY_MB} MB, ${bombs} requests`,
      columns: ['what', 'n', 'p50', 'p90', 'p99', 'max'],
      rows: (Object.keys(BOMBS) as BombKind[]).flatMap((kind) => [
        [`${kind}: time to stop (client wall, ms)`, ...row(samples[`bomb.${kind}.timeToStopMs`])],
        [`${kind}: peak host RSS increase (MB, sampled every ~2 ms)`, ...row(samples[`bomb.${kind}.peakHostRssIncreaseMB`])],
      ]),
      note: `outcomes: ${(Object.keys(BOMBS) as BombKind[]).map((k) => `${k}: ${values[`bomb.${k}.outcomes`]}`).join('; ')}; host restarts: ${info.hostRestarts}`,
    },
  ];
  const targets = [
    target('runaway overshoot p99', 'runaway.overshootMs.p99', '<=', 2, 'ms', samples['runaway.overshootMs']?.p99),
    target('neighbour p99 with 2 spinning ÷ alone', 'neighbour.2Spinning.p99 / neighbour.0Spinning.p99', '<=', 2, '×', ratio(samples['neighbour.2Spinning']?.p99, alone?.p99)),
  ];
  notes.push(
    'Overshoot is read from the 503\'s Server-Timing cpu;dur, the runtime\'s own charge (wall time minus scheduler run-delay of the host thread).',
    'Allocation bombs run with their CPU budget raised to 10 s so that the heap limit, not the CPU budget, has to stop them; a host that stops answering pings is killed by the supervisor after EDGEFN_HOST_HANG_MS (default 10 s), which shows up as 503 host-restart.',
    'Spinners are closed-loop clients: each spin request burns its budget, its isolate is disposed, and the next one is a cold start on whichever host the front door picks.',
  );
  return { snapshotPath: info.snapshotPath, samples, values, references: {}, targets, tables, notes };
}

function row(s: Summary | undefined): Array<number | null> {
  return s === undefined || s.n === 0 ? [0, null, null, null, null] : [s.n, s.p50, s.p90, s.p99, s.max];
}

if (import.meta.main) await runQuestion('budgets', body, { fullMs: 5 * 60_000, quickMs: 60_000 });
