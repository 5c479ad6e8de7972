// Question: requests per second and latency at 1, 16 and 64 connections
// through edgefn's front door, next to a bare Node server (the ceiling),
// Node's own WHATWG Request/Response path, and workerd.

import autocannon from 'autocannon';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { startRefServer } from './lib/ref-process.ts';
import { startWorkerd } from './lib/references.ts';
import { ratio, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Reference, type Table, type Target as TargetResult } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { buildWorkers } from './lib/workers.ts';
import { inProcessCost, type InProcessCost } from './lib/in-process.ts';

const APPS = ['hello', 'hono'] as const;
type App = (typeof APPS)[number];
const PATH: Record<App, string> = { hello: '/', hono: '/api/products/17' };
const CONNECTIONS = [1, 16, 64] as const;
const TARGETS = ['edgefn', 'bare node', 'node whatwg', 'workerd'] as const;
/** Rounds per point in a full run (each seconds ÷ ROUNDS long). */
const ROUNDS = 2;
type Target = (typeof TARGETS)[number];

interface Point {
  rps: number;
  /** Per-response latencies of the 2xx responses, in ms with sub-ms resolution. */
  latency: Summary;
  /** conns ÷ rps in ms: the mean latency by Little's law, exact for a closed loop. */
  mean: number;
  requests: number;
  errors: number;
  non2xx: number;
  statuses: string;
}

/** One autocannon run. */
interface Run {
  rps: number;
  ms: number[];
  requests: number;
  errors: number;
  non2xx: number;
  statuses: Map<string, number>;
}

function load(url: string, host: string, path: string, connections: number, seconds: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    // autocannon's own percentiles come from a whole-ms histogram (0 means under 1 ms, useless
    // for a 0.2 ms server), so every response's fractional latency is kept here instead.
    const ms: number[] = [];
    autocannon({ url: url + path, connections, duration: seconds, headers: { host }, pipelining: 1 }, (err, r) => {
      if (err) return reject(err);
      const statuses = new Map(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count] as [string, number]));
      resolve({ rps: r.requests.average, ms, requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx, statuses });
    }).on('response', (_client, status, _bytes, responseTime) => {
      if (status >= 200 && status < 300) ms.push(responseTime);
    });
  });
}

/** The runs of one server at one connection count (equal lengths), as one point. */
function point(runs: Run[], connections: number): Point {
  const rps = runs.reduce((a, r) => a + r.rps, 0) / runs.length;
  const statuses = new Map<string, number>();
  for (const r of runs) for (const [k, n] of r.statuses) statuses.set(k, (statuses.get(k) ?? 0) + n);
  return {
    rps: Math.round(rps),
    latency: summarize(runs.flatMap((r) => r.ms)),
    mean: Math.round(((connections * 1000) / Math.max(1, rps)) * 1000) / 1000,
    requests: runs.reduce((a, r) => a + r.requests, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    statuses: [...statuses].map(([k, n]) => `${k}×${n}`).join(' '),
  };
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const seconds = ctx.quick ? 1 : 6;
  const warmup = ctx.quick ? 0.3 : 3;
  const built = await buildWorkers();
  ctx.defer(() => built.remove());
  const refs: Record<string, Reference> = {};
  const values: QuestionBody['values'] = { secondsPerPoint: seconds, 'hono.bundleBytes': built.hono.bytes };
  const points: Partial<Record<`${App}.${Target}.${number}`, Point>> = {};

  const endpoints: Record<Target, Partial<Record<App, { url: string; host: string }>>> = { edgefn: {}, 'bare node': {}, 'node whatwg': {}, workerd: {} };
  // Everything starts at once (the servers idle until their turn), which keeps --quick short.
  const [node] = await Promise.all([
    (async () => {
      const n = await EdgefnNode.start();
      ctx.defer(() => n.close());
      for (const app of APPS) {
        await n.deploy(app, built[app].module);
        endpoints.edgefn[app] = { url: n.dataUrl, host: `${app}.localhost` };
      }
      return n;
    })(),
    ...APPS.flatMap((app) => [
      startRefServer(ctx, ['bare', app]).then((url) => (endpoints['bare node'][app] = { url, host: 'localhost' })),
      startRefServer(ctx, ['whatwg', built[app].modulePath]).then((url) => (endpoints['node whatwg'][app] = { url, host: 'localhost' })),
    ]),
    startWorkerd(APPS.map((app) => ({ name: app, module: built[app].module }))).then(
      (wd) => {
        ctx.defer(() => wd.dispose());
        for (const app of APPS) endpoints.workerd[app] = { url: wd.url, host: `${app}.localhost` };
        refs['workerd'] = { ran: true, what: 'one Miniflare (workerd) holding both workers, on its HTTP port, routed by host' };
      },
      (err: unknown) => {
        refs['workerd'] = { ran: false, what: 'workerd through miniflare', notRun: err instanceof Error ? err.message : String(err) };
      },
    ),
  ]);
  refs['bare node'] = { ran: true, what: 'node:http in its own process writing the handler\'s response directly (hello: the text; hono: JSON.stringify of the same productView() the Hono route returns, without Hono) — the ceiling' };
  refs['node whatwg'] = { ran: true, what: 'node:http in its own process: builds a WHATWG Request, calls the same worker module\'s fetch(), writes its Response' };

  // Each server is warmed up first (3 s at 16 connections: long enough for
  // V8 to have optimized the request path of every process involved, edgefn's
  // hosts included, on a loaded 2-core machine), then every connection count
  // is measured in ROUNDS rounds that take the servers in turn, each round a
  // share of the point's time: a change in the machine's load during the run
  // then falls on every server alike instead of on whichever ran then.
  const rounds = ctx.quick ? 1 : ROUNDS;
  for (const app of APPS) {
    for (const t of TARGETS) {
      const ep = endpoints[t][app];
      if (ep === undefined) continue;
      ctx.log(`${app} → ${t}: warm-up`);
      const check = await load(ep.url, ep.host, PATH[app], 16, warmup);
      // An occasional error is data (counted per point below); a server that mostly fails is a broken setup.
      if (check.requests === 0 || check.non2xx > check.requests / 2) throw new Error(`${t} ${app}: warm-up got ${check.non2xx} non-2xx of ${check.requests}`);
      values[`${app}.${t}.warmupNon2xx`] = check.non2xx;
    }
    for (const c of CONNECTIONS) {
      const runs = new Map<Target, Run[]>();
      for (let round = 0; round < rounds; round++) {
        for (const t of TARGETS) {
          const ep = endpoints[t][app];
          if (ep === undefined) continue;
          ctx.log(`${app} → ${t}: ${c} conns, round ${round + 1} of ${rounds}`);
          runs.set(t, [...(runs.get(t) ?? []), await load(ep.url, ep.host, PATH[app], c, seconds / rounds)]);
          await sleep(ctx.quick ? 50 : 200);
        }
      }
      for (const [t, r] of runs) points[`${app}.${t}.${c}`] = point(r, c);
    }
  }

  const tables: Table[] = APPS.map((app) => ({
    title: `${app}: ${seconds} s per point in ${rounds} round(s) taking the servers in turn, after a ${warmup} s warm-up each; autocannon on loopback (GET ${PATH[app]})`,
    columns: ['server', 'conns', 'rps', 'conns÷rps ms', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'edgefn rps ÷ this'],
    rows: TARGETS.flatMap((t) =>
      CONNECTIONS.map((c) => {
        const p = points[`${app}.${t}.${c}`];
        const e = points[`${app}.edgefn.${c}`];
        return p === undefined ? [t, c, null, null, null, null, null, null, null] : [t, c, p.rps, p.mean, p.latency.p50, p.latency.p99, p.errors, p.non2xx, ratio(e?.rps, p.rps)];
      }),
    ),
    note: 'the last column is edgefn\'s rps at the same connection count divided by this row\'s: 0.5 means edgefn does half as many requests per second',
  }));
  // Where an app's time goes: the same module, warm, without HTTP (bench/lib/in-process.ts).
  ctx.log('in-process: each app in an isolate and on Node\'s WHATWG objects');
  const perRequest = new Map<App, InProcessCost>();
  for (const app of APPS) perRequest.set(app, await inProcessCost(built[app], PATH[app], ctx.quick ? 300 : 3000));
  tables.push({
    title: 'a diagnosis: one warm request of each app without HTTP, µs (mean; the better of two interleaved runs)',
    columns: ['app', 'in an edgefn isolate', "on Node's WHATWG objects, in process", 'isolate ÷ Node', 'over HTTP at 1 conn, edgefn (1 ÷ rps)', "over HTTP at 1 conn, Node's WHATWG path"],
    rows: APPS.map((app) => {
      const c = perRequest.get(app)!;
      values[`${app}.inProcess.isolateUs`] = c.isolateUs;
      values[`${app}.inProcess.nodeWhatwgUs`] = c.nodeWhatwgUs;
      const overHttp = (t: Target) => {
        const r = points[`${app}.${t}.1`]?.rps;
        return r === undefined || r === 0 ? null : Math.round(1e6 / r);
      };
      return [app, c.isolateUs, c.nodeWhatwgUs, ratio(c.isolateUs, c.nodeWhatwgUs), overHttp('edgefn'), overHttp('node whatwg')];
    }),
    note: 'the app\'s own cost in the isolate against the same module on Node; the last two columns are what a request costs end to end over HTTP, so the difference between them and the first two is the HTTP and host path, not the app',
  });
  const samples: Record<string, Summary> = {};
  for (const [k, p] of Object.entries(points)) {
    if (p === undefined) continue;
    values[`${k}.rps`] = p.rps;
    samples[`${k}.latency`] = p.latency;
    if (p.non2xx > 0 || p.errors > 0) values[`${k}.statuses`] = `${p.statuses}; ${p.errors} socket errors/timeouts`;
  }
  const rps = (app: App, t: Target, c: number) => points[`${app}.${t}.${c}`]?.rps;
  const vs = (app: App, t: Target, c: number) => ratio(rps(app, 'edgefn', c), rps(app, t, c));
  const rpsTarget = (app: App, t: Target, c: number, op: '<=' | '>=', value: number, what: string) =>
    target(`${app}: edgefn ${op === '>=' ? '≥' : '≤'} ${value}× ${what} at ${c} conn${c === 1 ? '' : 's'}`, `${app}.edgefn.${c}.rps / ${app}.${t}.${c}.rps`, op, value, '×', vs(app, t, c));
  const targets: TargetResult[] = [
    rpsTarget('hello', 'bare node', 1, '>=', 0.35, 'bare Node'),
    rpsTarget('hello', 'bare node', 16, '>=', 0.5, 'bare Node'),
    rpsTarget('hello', 'bare node', 64, '>=', 0.5, 'bare Node'),
    rpsTarget('hello', 'node whatwg', 16, '>=', 1, "Node's WHATWG path"),
    rpsTarget('hono', 'node whatwg', 16, '>=', 0.8, "Node's WHATWG path"),
    rpsTarget('hono', 'node whatwg', 64, '>=', 0.8, "Node's WHATWG path"),
    target('hello: edgefn p99 at 64 conns ≤ 3× bare Node\'s', 'hello.edgefn.64.latency.p99 / hello.bare node.64.latency.p99', '<=', 3, '×', ratio(points['hello.edgefn.64']?.latency.p99, points['hello.bare node.64']?.latency.p99)),
    ...APPS.flatMap((app) => [
      target(`${app}: edgefn rps at 64 conns ≥ at 16`, `${app}.edgefn.64.rps / ${app}.edgefn.16.rps`, '>=', 1, '×', ratio(rps(app, 'edgefn', 64), rps(app, 'edgefn', 16))),
      target(`${app}: edgefn rps at 16 conns ≥ at 1`, `${app}.edgefn.16.rps / ${app}.edgefn.1.rps`, '>=', 1, '×', ratio(rps(app, 'edgefn', 16), rps(app, 'edgefn', 1))),
      rpsTarget(app, 'workerd', 16, '>=', 3, 'workerd (read as several ×)'),
    ]),
  ];
  const info = await node.info();
  return {
    snapshotPath: info.snapshotPath,
    samples,
    values,
    references: refs,
    targets,
    tables,
    notes: [
      'Everything shares 2 cores: autocannon (in the bench process), the server under test (edgefn: front door + its isolate hosts, EDGEFN_HOSTS at its default of 2 × cores; references: one process, workerd its own), so absolute rps are low and ratios are the result.',
      'Latency percentiles are nearest-rank over every 2xx response\'s latency as autocannon timed it (request written → response parsed, fractional ms); conns ÷ rps is the mean latency by Little\'s law, exact for a closed loop.',
      'The p99 target compares hello only: the bare-Node Hono row is JSON.stringify without Hono, a ceiling rather than the same app.',
    ],
  };
}

if (import.meta.main) await runQuestion('throughput', body, { fullMs: 6 * 60_000, quickMs: 90_000 });
