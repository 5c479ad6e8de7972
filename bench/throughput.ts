// Question 2: requests per second and latency at 1, 16 and 64 connections
// through edgefn's front door, next to a bare Node server (the ceiling),
// Node's own WHATWG Request/Response path, and workerd.

import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { startWorkerd } from './lib/references.ts';
import { ratio, runQuestion, sleep, target, type BenchContext, type QuestionBody, type Reference, type Table } from './lib/report.ts';
import { buildWorkers } from './lib/workers.ts';

const APPS = ['hello', 'hono'] as const;
type App = (typeof APPS)[number];
const PATH: Record<App, string> = { hello: '/', hono: '/api/products/17' };
const CONNECTIONS = [1, 16, 64] as const;
const TARGETS = ['edgefn', 'bare node', 'node whatwg', 'workerd'] as const;
type Target = (typeof TARGETS)[number];
const REF_SERVER = fileURLToPath(new URL('./lib/ref-server.ts', import.meta.url));

interface Point {
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  requests: number;
  errors: number;
  non2xx: number;
  statuses: string;
}

function load(url: string, host: string, path: string, connections: number, seconds: number): Promise<Point> {
  return new Promise((resolve, reject) => {
    autocannon({ url: url + path, connections, duration: seconds, headers: { host }, pipelining: 1 }, (err, r) => {
      if (err) return reject(err);
      resolve({ rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, mean: Math.round(((connections * 1000) / Math.max(1, r.requests.average)) * 1000) / 1000, requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx, statuses: Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => `${k}×${v.count}`).join(' ') });
    });
  });
}

async function startRef(ctx: BenchContext, args: string[]): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [REF_SERVER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  ctx.defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`reference server ${args.join(' ')} exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}`;
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const seconds = ctx.quick ? 1 : 5;
  const warmup = ctx.quick ? 0.3 : 1;
  const built = await buildWorkers();
  ctx.defer(() => built.remove());
  const refs: Record<string, Reference> = {};
  const values: QuestionBody['values'] = { secondsPerPoint: seconds, 'hono.bundleBytes': built.hono.bytes };
  const points: Partial<Record<`${App}.${Target}.${number}`, Point>> = {};

  const node = await EdgefnNode.start();
  ctx.defer(() => node.close());
  await node.deploy('hello', built.hello.module);
  await node.deploy('hono', built.hono.module);
  const endpoints: Record<Target, Partial<Record<App, { url: string; host: string }>>> = {
    edgefn: { hello: { url: node.dataUrl, host: 'hello.localhost' }, hono: { url: node.dataUrl, host: 'hono.localhost' } },
    'bare node': {},
    'node whatwg': {},
    workerd: {},
  };
  for (const app of APPS) {
    endpoints['bare node'][app] = { url: await startRef(ctx, ['bare', app]), host: 'localhost' };
    endpoints['node whatwg'][app] = { url: await startRef(ctx, ['whatwg', built[app].modulePath]), host: 'localhost' };
  }
  refs['bare node'] = { ran: true, what: 'node:http in its own process writing the handler\'s response directly (hello: the text; hono: JSON.stringify of the same productView() the Hono route returns, without Hono) — the ceiling' };
  refs['node whatwg'] = { ran: true, what: 'node:http in its own process: builds a WHATWG Request, calls the same worker module\'s fetch(), writes its Response' };
  try {
    const wd = await startWorkerd(APPS.map((app) => ({ name: app, module: built[app].module })));
    ctx.defer(() => wd.dispose());
    for (const app of APPS) endpoints.workerd[app] = { url: wd.url, host: `${app}.localhost` };
    refs['workerd'] = { ran: true, what: 'one Miniflare (workerd) holding both workers, on its HTTP port, routed by host' };
  } catch (err) {
    refs['workerd'] = { ran: false, what: 'workerd through miniflare', notRun: err instanceof Error ? err.message : String(err) };
  }

  for (const app of APPS) {
    for (const t of TARGETS) {
      const ep = endpoints[t][app];
      if (ep === undefined) continue;
      ctx.log(`${app} → ${t}`);
      const check = await load(ep.url, ep.host, PATH[app], 4, warmup);
      // An occasional error is data (counted per point below); a server that mostly fails is a broken setup.
      if (check.requests === 0 || check.non2xx > check.requests / 2) throw new Error(`${t} ${app}: warm-up got ${check.non2xx} non-2xx of ${check.requests}`);
      values[`${app}.${t}.warmupNon2xx`] = check.non2xx;
      for (const c of CONNECTIONS) {
        points[`${app}.${t}.${c}`] = await load(ep.url, ep.host, PATH[app], c, seconds);
        await sleep(200);
      }
    }
  }

  const tables: Table[] = APPS.map((app) => ({
    title: `${app}: ${seconds} s per point, autocannon on loopback (GET ${PATH[app]})`,
    columns: ['server', 'conns', 'rps', 'conns÷rps ms', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'edgefn rps ÷ this'],
    rows: TARGETS.flatMap((t) =>
      CONNECTIONS.map((c) => {
        const p = points[`${app}.${t}.${c}`];
        const e = points[`${app}.edgefn.${c}`];
        return p === undefined ? [t, c, null, null, null, null, null, null, null] : [t, c, p.rps, p.mean, p.p50, p.p99, p.errors, p.non2xx, ratio(e?.rps, p.rps)];
      }),
    ),
    note: 'the last column is edgefn\'s rps at the same connection count divided by this row\'s: 0.5 means edgefn does half as many requests per second',
  }));
  for (const [k, p] of Object.entries(points)) {
    if (p === undefined) continue;
    values[`${k}.rps`] = p.rps;
    if (p.non2xx > 0 || p.errors > 0) values[`${k}.statuses`] = `${p.statuses}; ${p.errors} socket errors/timeouts`;
  }
  const r = (app: App, t: Target) => ratio(points[`${app}.edgefn.16`]?.rps, points[`${app}.${t}.16`]?.rps);
  const targets = APPS.flatMap((app) => [
    target(`${app}: edgefn ≥ 0.5× bare Node at 16 conns`, `${app}.edgefn.16.rps / ${app}.bare node.16.rps`, '>=', 0.5, '×', r(app, 'bare node')),
    target(`${app}: edgefn ahead of Node's WHATWG path at 16 conns`, `${app}.edgefn.16.rps / ${app}.node whatwg.16.rps`, '>=', 1, '×', r(app, 'node whatwg')),
    target(`${app}: edgefn several × workerd at 16 conns (read as ≥ 3×)`, `${app}.edgefn.16.rps / ${app}.workerd.16.rps`, '>=', 3, '×', r(app, 'workerd')),
  ]);
  const info = await node.info();
  return {
    snapshotPath: info.snapshotPath,
    samples: {},
    values,
    references: refs,
    targets,
    tables,
    notes: [
      'Everything shares 2 cores: autocannon (in the bench process), the server under test (edgefn: front door + its isolate hosts, EDGEFN_HOSTS at its default of 2 × cores; references: one process, workerd its own), so absolute rps are low and ratios are the result.',
      'Latency percentiles come from autocannon\'s histogram, which has whole-ms resolution (0 means under 1 ms); conns ÷ rps is the mean latency by Little\'s law, exact for a closed loop.',
    ],
  };
}

if (import.meta.main) await runQuestion('throughput', body, { fullMs: 6 * 60_000, quickMs: 60_000 });
