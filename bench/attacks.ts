// Question: what do well-behaved tenants see while hostile ones take turns
// at the same node? Neighbours keep a steady keep-alive load for the whole
// run while attackers rotate through CPU spins, heap bombs, a request flood
// past a function's admission limits, and thousands of idle connections. The
// neighbours' p50/p99 are reported per window beside their quiet p99 (the
// first phase, with no attacker), with their errors and the node's resident
// memory (front door + isolate hosts, from /proc).

import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { Connection, type CallResult } from './lib/connection.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { descendantPids, rssBytes } from './lib/procfs.ts';
import { latencyTable, ratio, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';

const NEIGHBOUR = `export default { fetch() { return new Response('neighbour'); } };\n`;
const SPIN = `export default { fetch() { while (true) {} } };\n`;
// Small objects kept reachable: V8 collects again and again near the limit;
// isolated-vm's memoryLimit, the CPU budget or the host's watchdog stops it.
const BOMB = `export default { fetch() { const keep = []; for (let i = 0; ; i++) keep.push({ i, j: i }); } };\n`;
const SLOW = `export default { async fetch() { await new Promise((r) => setTimeout(r, 50)); return new Response('slow'); } };\n`;

const PHASES = ['quiet', 'cpu spin', 'heap bomb', 'flood', 'idle connections'] as const;
type Phase = (typeof PHASES)[number];

interface Sample {
  at: number;
  phase: Phase;
  ms: number;
  /** undefined when the request answered 200 'neighbour'. */
  error: string | undefined;
}

/** The soft limit on open files of this process (/proc/self/limits), which the node inherits. */
function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null || m[1] === 'unlimited' ? 1_000_000 : Number(m[1]);
}

/** A raw connection that sends one request, reads its answer, then stays open and silent. */
function idleConnection(port: number, host: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const done = (v: Socket | undefined) => {
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      s.destroy();
      done(undefined);
    }, 20_000);
    s.on('error', () => done(undefined));
    s.on('connect', () => s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n') && got.endsWith('neighbour')) done(s);
    });
  });
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const q = ctx.quick;
  const phaseMs = q ? 1_500 : 12_000;
  const windowMs = q ? 1_000 : 5_000;
  const neighbours = 4;
  const fdLimit = openFileLimit();
  // Each idle connection costs a descriptor here, one in the front door and one
  // in its host; leave room for everything else.
  const idleCount = q ? 1_000 : fdLimit >= 12_000 ? 10_000 : Math.max(1_000, Math.min(10_000, fdLimit - 2_000));
  const notes: string[] = [];

  const node = await EdgefnNode.start({
    EDGEFN_MAX_CONNECTIONS: String(idleCount + 2_000),
    // Every connection here comes from 127.0.0.1; the per-client cap would refuse the idle ones.
    EDGEFN_MAX_CONNECTIONS_PER_CLIENT: '0',
  });
  ctx.defer(() => node.close());
  await node.deploy('neighbour', NEIGHBOUR);
  await node.deploy('spin', SPIN, { cpuMs: 50 });
  await node.deploy('bomb', BOMB, { memoryMb: 32, cpuMs: 3_000 });
  await node.deploy('flooded', SLOW, { concurrency: 2, rps: 50 });
  const nodePid = node.child.pid!;
  const rssMb = () => [nodePid, ...descendantPids(nodePid)].reduce((s, p) => s + (rssBytes(p) ?? 0), 0) / 2 ** 20;

  const origin = node.dataUrl;
  const conns = Array.from({ length: neighbours }, () => new Connection(origin));
  ctx.defer(() => Promise.all(conns.map((c) => c.destroy())));
  for (const c of conns) for (let i = 0; i < 20; i++) await c.get('neighbour.localhost');

  const samples: Sample[] = [];
  const rss: Array<{ at: number; mb: number }> = [];
  const attackerOutcomes = new Map<string, number>();
  const count = (what: string) => attackerOutcomes.set(what, (attackerOutcomes.get(what) ?? 0) + 1);
  let phase: Phase = 'quiet';
  let running = true;
  const t0 = performance.now();

  const neighbourLoops = conns.map(async (c) => {
    while (running) {
      const p = phase;
      const r = await c.get('neighbour.localhost');
      const ok = r.status === 200 && r.body === 'neighbour';
      samples.push({ at: performance.now() - t0, phase: p, ms: r.totalMs, error: ok ? undefined : `${r.status} ${r.error ?? ''}`.trim() });
      await sleep(2);
    }
  });
  const rssLoop = (async () => {
    while (running) {
      rss.push({ at: performance.now() - t0, mb: rssMb() });
      await sleep(500);
    }
  })();

  /** Closed-loop attackers on `name` from `n` connections of their own until the phase ends. */
  async function attack(name: string, n: number, until: number): Promise<void> {
    const own = Array.from({ length: n }, () => new Connection(origin));
    await Promise.all(
      own.map(async (c) => {
        while (performance.now() < until) {
          const r: CallResult = await c.get(`${name}.localhost`);
          count(`${name}: ${r.status} ${r.error ?? ''}`.trim());
        }
      }),
    );
    await Promise.all(own.map((c) => c.destroy()));
  }

  let idleOpened = 0;
  for (const p of PHASES) {
    phase = p;
    const until = performance.now() + phaseMs;
    ctx.log(`${p} for ${phaseMs / 1000} s`);
    switch (p) {
      case 'quiet':
        await sleep(phaseMs);
        break;
      case 'cpu spin':
        await attack('spin', 2, until);
        break;
      case 'heap bomb':
        await attack('bomb', 1, until);
        break;
      case 'flood':
        await attack('flooded', 16, until);
        break;
      case 'idle connections': {
        const idle: Socket[] = [];
        ctx.defer(() => idle.forEach((s) => s.destroy()));
        // Opened 500 at a time (for at most 4 phases' time), each answered
        // once, then silent; then all held open for one phase.
        const openBy = performance.now() + 4 * phaseMs;
        for (let i = 0; i < idleCount && performance.now() < openBy; i += 500) {
          const batch = await Promise.all(Array.from({ length: Math.min(500, idleCount - i) }, () => idleConnection(node.port, 'neighbour.localhost')));
          for (const s of batch) if (s !== undefined) idle.push(s);
        }
        idleOpened = idle.length;
        ctx.log(`${idle.length} idle connections open`);
        await sleep(phaseMs);
        for (const s of idle) s.destroy();
        break;
      }
    }
  }
  running = false;
  await Promise.all(neighbourLoops);
  await rssLoop;
  const info = await node.info();

  const quiet = summarize(samples.filter((s) => s.phase === 'quiet' && s.error === undefined).map((s) => s.ms));
  const byPhase: Record<string, Summary> = {};
  for (const p of PHASES) byPhase[p] = summarize(samples.filter((s) => s.phase === p && s.error === undefined).map((s) => s.ms));
  const errors = samples.filter((s) => s.error !== undefined);
  const unclean = errors.filter((s) => s.error !== '503 host-restart');

  const windows: Table = {
    title: `neighbours (${neighbours} keep-alive connections, back to back) per ${windowMs / 1000} s window, attackers rotating every ${phaseMs / 1000} s`,
    columns: ['window s', 'attacker', 'n', 'p50 ms', 'p99 ms', 'p99 ÷ quiet p99', 'errors', 'node RSS MB'],
    rows: [],
    note: `quiet p99 (the first phase, no attacker): ${quiet.p99} ms; node RSS is the front door plus its isolate hosts at the window's end (sampled every 0.5 s)`,
  };
  const end = Math.max(...samples.map((s) => s.at), 0);
  for (let w = 0; w < end; w += windowMs) {
    const inW = samples.filter((s) => s.at >= w && s.at < w + windowMs);
    const ok = summarize(inW.filter((s) => s.error === undefined).map((s) => s.ms));
    const phases = [...new Set(inW.map((s) => s.phase))].join(' → ');
    const lastRss = rss.filter((r) => r.at < w + windowMs).at(-1)?.mb;
    windows.rows.push([`${(w / 1000).toFixed(0)}–${((w + windowMs) / 1000).toFixed(0)}`, phases, ok.n, ok.p50, ok.p99, ratio(ok.p99, quiet.p99), inW.length - ok.n, lastRss === undefined ? null : Math.round(lastRss)]);
  }

  const samplesOut: Record<string, Summary> = {};
  for (const p of PHASES) samplesOut[`neighbour.${p.replace(/ /g, '-')}`] = byPhase[p]!;
  samplesOut['node.rssMB'] = summarize(rss.map((r) => r.mb));
  const values: QuestionBody['values'] = {
    'neighbour.requests': samples.length,
    'neighbour.errors': errors.length,
    'neighbour.errorsOtherThanHostRestart': unclean.length,
    'neighbour.errorKinds': [...new Set(errors.map((e) => e.error))].join(', ') || 'none',
    'idle.connectionsOpened': idleOpened,
    'idle.connectionsWanted': idleCount,
    fdLimit,
    hostRestarts: info.hostRestarts,
    'attackers.outcomes': [...attackerOutcomes].map(([k, v]) => `${k}: ${v}`).join('; '),
  };
  const tables: Table[] = [
    windows,
    latencyTable(
      'neighbours by attacker, client → body read',
      'quiet',
      PHASES.map((p) => [p, byPhase[p]]),
      'ratios divide by the quiet phase',
    ),
  ];
  const targets = [
    target('neighbour errors other than 503 host-restart', 'neighbour.errorsOtherThanHostRestart', '<=', 0, 'requests', unclean.length),
    target('neighbour p99 under a flood ÷ quiet', 'neighbour.flood.p99 / neighbour.quiet.p99', '<=', 2, '×', ratio(byPhase['flood']?.p99, quiet.p99)),
    target('neighbour p99 with idle connections ÷ quiet', 'neighbour.idle-connections.p99 / neighbour.quiet.p99', '<=', 2, '×', ratio(byPhase['idle connections']?.p99, quiet.p99)),
  ];
  notes.push(
    `Attackers: 2 connections calling a \`while (true) {}\` at a 50 ms CPU budget; 1 calling a small-object heap bomb at 32 MB (CPU budget 3 s); 16 calling a 50 ms function limited to concurrency 2 and 50 rps; ${idleCount} idle keep-alive connections (each answered once, then silent), opened 500 at a time (the phase counts the opening, then holds them ${phaseMs / 1000} s)${idleOpened < idleCount ? `; ${idleOpened} were open in time` : ''}. Open-file limit: ${fdLimit}.`,
    'The attackers and the neighbours run in this one process; their answers compete for its event loop as they compete for the machine\'s cores.',
    `EDGEFN_* settings from the environment: ${Object.entries(process.env).filter(([k]) => k.startsWith('EDGEFN_')).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}.`,
    `Attacker outcomes: ${values['attackers.outcomes']}. Host restarts: ${info.hostRestarts}.`,
  );
  return { snapshotPath: info.snapshotPath, samples: samplesOut, values, references: {}, targets, tables, notes };
}

if (import.meta.main) await runQuestion('attacks', body, { fullMs: 4 * 60_000, quickMs: 90_000 });
