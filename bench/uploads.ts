// Question: what does a large upload cost? A 100 MB body streamed to a worker
// that counts it with `for await (const c of request.body)`, under the default
// limits (50 ms CPU): does it answer, is the count right, what is it charged
// (Server-Timing cpu;dur) per MB, how fast does it go; beside a bare Node
// server and workerd counting the same bytes.

import { Readable } from 'node:stream';
import { Connection, type CallResult } from './lib/connection.ts';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { startRefServer } from './lib/ref-process.ts';
import { startWorkerd } from './lib/references.ts';
import { runQuestion, target, type BenchContext, type Cell, type QuestionBody, type Reference, type Table } from './lib/report.ts';
import { summarize, type Summary } from './lib/stats.ts';

const MB = 1024 * 1024;
/** The client writes the body in pieces of this size, as a file read would. */
const CHUNK = 64 * 1024;
/** The diagnosis function's CPU budget: the maximum a function may have (ms). */
const RAISED_CPU_MS = 30_000;

const COUNT_WORKER = `export default {
  async fetch(request) {
    let n = 0;
    for await (const c of request.body) n += c.byteLength;
    return new Response(String(n), { headers: { 'content-type': 'text/plain' } });
  },
};
`;

const SERVERS = ['edgefn', 'edgefn, CPU budget raised (diagnosis)', 'bare node', 'workerd'] as const;
type Server = (typeof SERVERS)[number];

function payload(bytes: number): Readable {
  const chunk = Buffer.alloc(CHUNK, 0x61);
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < bytes; sent += CHUNK) yield sent + CHUNK <= bytes ? chunk : chunk.subarray(0, bytes - sent);
    })(),
  );
}

/** `runs` uploads of `bytes` on one kept-alive connection (a refused upload may close it: `connects` shows that). */
async function upload(origin: string, host: string, bytes: number, runs: number): Promise<{ results: CallResult[]; connects: number }> {
  const conn = new Connection(origin);
  try {
    const results: CallResult[] = [];
    for (let i = 0; i < runs; i++) {
      results.push(await conn.request({ method: 'POST', host, path: '/', headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) }, body: payload(bytes) }));
    }
    return { results, connects: conn.connects };
  } finally {
    await conn.destroy();
  }
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const bytes = (ctx.quick ? 16 : 100) * MB;
  const runs = ctx.quick ? 1 : 3;
  const mb = bytes / MB;
  const samples: Record<string, Summary> = {};
  const values: QuestionBody['values'] = { uploadMB: mb, uploadsPerServer: runs, chunkBytes: CHUNK };
  const refs: Record<string, Reference> = {};
  const endpoints: Partial<Record<Server, { url: string; host: string }>> = {};

  const [node] = await Promise.all([
    (async () => {
      const n = await EdgefnNode.start();
      ctx.defer(() => n.close());
      await n.deploy('count', COUNT_WORKER);
      await n.deploy('count-raised', COUNT_WORKER, { cpuMs: RAISED_CPU_MS });
      endpoints['edgefn'] = { url: n.dataUrl, host: 'count.localhost' };
      endpoints['edgefn, CPU budget raised (diagnosis)'] = { url: n.dataUrl, host: 'count-raised.localhost' };
      return n;
    })(),
    startRefServer(ctx, ['count']).then((url) => {
      endpoints['bare node'] = { url, host: 'localhost' };
      refs['bare node'] = { ran: true, what: 'node:http in its own process: for await over the request, counting bytes, answers the count' };
    }),
    startWorkerd([{ name: 'count', module: COUNT_WORKER }]).then(
      (wd) => {
        ctx.defer(() => wd.dispose());
        endpoints['workerd'] = { url: wd.url, host: 'count.localhost' };
        refs['workerd'] = { ran: true, what: 'one Miniflare (workerd) running the same worker; miniflare enforces no CPU limit' };
      },
      (err: unknown) => {
        refs['workerd'] = { ran: false, what: 'workerd through miniflare', notRun: err instanceof Error ? err.message : String(err) };
      },
    ),
  ]);

  const rows: Cell[][] = [];
  const rates: Partial<Record<Server, number>> = {};
  for (const server of SERVERS) {
    const ep = endpoints[server];
    if (ep === undefined) continue;
    ctx.log(`${runs} × ${mb} MB → ${server}`);
    const { results, connects } = await upload(ep.url, ep.host, bytes, runs);
    const ok = results.filter((r) => r.status === 200 && r.body === String(bytes));
    const key = server === 'edgefn' ? 'edgefn' : server === 'bare node' ? 'bareNode' : server === 'workerd' ? 'workerd' : 'edgefnRaised';
    const wall = (samples[`${key}.ms`] = summarize(results.map((r) => r.totalMs)));
    const cpu = results.map((r) => r.cpuMs).filter((x): x is number => x !== undefined);
    if (cpu.length > 0) samples[`${key}.cpuMs`] = summarize(cpu);
    // Per MB only where the whole body was counted: a refused upload's charge covers an unknown part of it.
    const perMb = ok.map((r) => r.cpuMs).filter((x): x is number => x !== undefined).map((c) => c / mb);
    if (perMb.length > 0) samples[`${key}.cpuMsPerMB`] = summarize(perMb);
    const mbps = ok.length > 0 ? summarize(ok.map((r) => mb / (r.totalMs / 1000))).p50 : null;
    if (mbps !== null) rates[server] = mbps;
    const statuses = [...new Set(results.map((r) => `${r.status}${r.error ? ` ${r.error}` : ''}`))].join(', ');
    values[`${key}.statuses`] = statuses;
    values[`${key}.countCorrect`] = ok.length;
    values[`${key}.connectionsOpened`] = connects;
    values[`${key}.MBps`] = mbps === null ? null : Math.round(mbps * 10) / 10;
    rows.push([server, runs, statuses, `${ok.length} of ${runs}`, samples[`${key}.cpuMs`]?.p50 ?? null, samples[`${key}.cpuMsPerMB`]?.p50 ?? null, wall.p50, mbps === null ? null : Math.round(mbps * 10) / 10, null]);
  }
  const bare = rates['bare node'];
  for (const r of rows) {
    const rate = r[7];
    r[8] = typeof rate === 'number' && bare !== undefined ? Math.round((rate / bare) * 100) / 100 : null;
  }

  const okDefault = values['edgefn.countCorrect'];
  const tables: Table[] = [
    {
      title: `${mb} MB upload, ${CHUNK / 1024} KB writes, one keep-alive connection (undici), ${runs} run${runs === 1 ? '' : 's'} each`,
      columns: ['server', 'runs', 'status', 'count correct', 'cpu;dur p50 ms', 'charge ms/MB', 'sent → answer p50 ms', 'MB/s (p50)', 'MB/s ÷ bare Node'],
      rows,
      note: `MB is 2^20 bytes; charge per MB is cpu;dur ÷ MB, only for uploads counted in full; the default CPU budget is 50 ms, the diagnosis function's ${RAISED_CPU_MS} ms`,
    },
  ];
  const info = await node.info();
  return {
    snapshotPath: info.snapshotPath,
    samples,
    values,
    references: refs,
    targets: [target(`${mb} MB upload at the default limits answers 200 with the exact count`, 'edgefn.countCorrect', '>=', runs, `of ${runs}`, typeof okDefault === 'number' ? okDefault : null)],
    tables,
    notes: [
      'The worker reads the body with `for await (const c of request.body)`; the host reads ahead up to a 1 MB window and each read gets everything queued (up to 1 MB) in one entry; the bytes are copied in by an uncharged staging entry, so what is charged is the loop\'s own work per batch.',
      'The client and every server share the machine\'s 2 cores; MB/s is the whole exchange (request sent → answer read).',
    ],
  };
}

if (import.meta.main) await runQuestion('uploads', body, { fullMs: 5 * 60_000, quickMs: 60_000 });
