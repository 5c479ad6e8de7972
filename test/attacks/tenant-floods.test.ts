// Hostile tenants that flood what the platform keeps for them: timers,
// promises, pending fetches, waitUntil work, response headers, an endless
// response stream, the log, subrequests, host crypto and compression. Each
// is bounded (a budget stops it, or the platform refuses past a limit), and a
// neighbour under steady load on the same node sees no error. One node and one
// local origin server for the file.

import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { callTimed, duringAttack, NEIGHBOUR_SCRIPT } from './neighbour.ts';

/** A stopped attacker's whole call, cold start and a loaded machine's queueing included. */
const ATTACK_DEADLINE_MS = 10_000;

let node: StartedNode;
let origin: Server;
let originUrl = '';
/** Responses the origin holds open (its /hang route never answers). */
const hanging = new Set<ServerResponse>();

const mod = (body: string): string => `export default { async fetch(request, env, ctx) {\n${body}\n} }`;

/** The function's log, once it has at least `atLeast` lines (they reach the node after the response). */
async function logsOf(name: string, atLeast = 1): Promise<string[]> {
  let lines: string[] = [];
  for (let i = 0; i < 100; i++) {
    const res = await node.api(`/v1/functions/${name}/logs`);
    lines = ((await res.json()) as { logs: Array<{ message: string }> }).logs.map((l) => l.message);
    if (lines.length >= atLeast) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return lines;
}

async function deploy(name: string, script: string, limits: Record<string, number> = {}): Promise<void> {
  const res = await node.deploy(name, { script, limits });
  expect([200, 201], `${name}: ${JSON.stringify(res.json)}`).toContain(res.status);
}

beforeAll(async () => {
  origin = createServer((req, res) => {
    if (req.url === '/hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    res.end('origin ok');
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  node = await startNode({ env: { EDGEFN_FETCH_ALLOW: '127.0.0.1' } });
  await deploy('neighbour', NEIGHBOUR_SCRIPT);
});
afterAll(async () => {
  await node.close();
  origin.closeAllConnections();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

describe('flood attacks', () => {
  it('stops a flood of 200,000 timers with 503 cpu-limit (each is host work charged to the request)', async () => {
    await deploy('timers', mod('for (let i = 0; i < 200000; i++) setTimeout(() => {}, 60000); return new Response("armed");'), { cpuMs: 200 });
    const { result: r, neighbour } = await duringAttack(node, 'timers', () => callTimed(node, 'timers'));
    expect([r.status, r.error]).toEqual([503, 'cpu-limit']);
    expect(r.ms).toBeLessThan(ATTACK_DEADLINE_MS);
    expect(neighbour.errors).toEqual([]);
  });

  it('drops timers past 10,000 pending in one isolate, and says so in the log', async () => {
    await deploy('timers-cap', mod('for (let i = 0; i < 12000; i++) setTimeout(() => console.log("fired " + i), 60000); return new Response("armed");'), { cpuMs: 5000 });
    const { result: r, neighbour } = await duringAttack(node, 'timers-cap', () => callTimed(node, 'timers-cap'));
    expect([r.status, r.body]).toEqual([200, 'armed']);
    expect(neighbour.errors).toEqual([]);
    expect((await logsOf('timers-cap')).join('\n')).toMatch(/more than 10000 timers pending in one isolate; further timers are dropped/);
  });

  it('stops a flood of never-settling promises', async () => {
    await deploy('promises', mod('const keep = []; for (;;) keep.push(new Promise(() => {}));'), { cpuMs: 2000, memoryMb: 16 });
    const { result: r, neighbour } = await duringAttack(node, 'promises', () => callTimed(node, 'promises'));
    // Heap growth of small live objects: memory-limit, or the CPU budget spent in GC near the limit first.
    expect([r.status, r.error]).toEqual([503, expect.toBeOneOf(['memory-limit', 'cpu-limit'])]);
    expect(r.ms).toBeLessThan(ATTACK_DEADLINE_MS);
    expect(neighbour.errors).toEqual([]);
  });

  it('caps pending fetches at the subrequest limit, and closes the rest when the request ends', async () => {
    await deploy(
      'pending-fetches',
      mod(`const ps = []; for (let i = 0; i < 200; i++) ps.push(fetch('${originUrl}/hang').then(() => 'answered', (e) => e.message));
        const state = ps.map(() => 'pending'); ps.forEach((p, i) => p.then((m) => { state[i] = m; }));
        await new Promise((r) => setTimeout(r, 300));
        return Response.json({ refused: state.filter((m) => /subrequest/i.test(m)).length, pending: state.filter((m) => m === 'pending').length });`),
      { cpuMs: 2000 },
    );
    const { result: r, neighbour } = await duringAttack(node, 'pending-fetches', () => callTimed(node, 'pending-fetches'));
    expect(r.status, `${r.error} ${r.body}`).toBe(200);
    // 50 subrequests per request (the default): the other 150 are refused at once.
    expect(JSON.parse(r.body)).toEqual({ refused: 150, pending: 50 });
    expect(neighbour.errors).toEqual([]);
    // The 50 outbound requests end with the incoming one: the origin sees them all closed.
    for (let i = 0; i < 100 && hanging.size > 0; i++) await new Promise((res) => setTimeout(res, 50));
    expect(hanging.size).toBe(0);
  });

  it('answers at once while a waitUntil never settles, and ends that work at the wall budget', async () => {
    await deploy('wait-forever', mod('ctx.waitUntil(new Promise(() => {})); return new Response("early");'), { wallMs: 1000 });
    const { result, neighbour } = await duringAttack(node, 'wait-forever', () => Promise.all([callTimed(node, 'wait-forever'), callTimed(node, 'wait-forever')]));
    for (const r of result) {
      expect([r.status, r.body]).toEqual([200, 'early']);
      expect(r.ms).toBeLessThan(ATTACK_DEADLINE_MS);
    }
    expect(neighbour.errors).toEqual([]);
    // Past the wall budget the isolate is still live and serving.
    await new Promise((res) => setTimeout(res, 1200));
    expect((await callTimed(node, 'wait-forever')).body).toBe('early');
  });

  it('refuses a response with 10,000 headers as 500 bad-response', async () => {
    await deploy('many-headers', mod('const h = new Headers(); for (let i = 0; i < 10000; i++) h.append("x-h" + i, "v"); return new Response("ok", { headers: h });'), { cpuMs: 1000 });
    const { result: r, neighbour } = await duringAttack(node, 'many-headers', () => callTimed(node, 'many-headers'));
    expect([r.status, r.error]).toEqual([500, 'bad-response']);
    expect(neighbour.errors).toEqual([]);
    expect((await logsOf('many-headers')).join('\n')).toMatch(/100\d\d header fields are more than the 500 a response may have/);
  });

  it('refuses a response with a 1 MB header value as 500 bad-response', async () => {
    // A roomy budget: building a 1 MB string and its Headers on a loaded machine is not what is tested.
    await deploy('huge-header', mod('return new Response("ok", { headers: { "x-big": "a".repeat(1 << 20) } });'), { cpuMs: 1000 });
    const { result: r, neighbour } = await duringAttack(node, 'huge-header', () => callTimed(node, 'huge-header'));
    expect([r.status, r.error]).toEqual([500, 'bad-response']);
    expect(neighbour.errors).toEqual([]);
  });

  it('bounds a never-ending response stream: the client reads while it wants, the wall budget ends it', async () => {
    await deploy('endless', mod('const chunk = new Uint8Array(65536); return new Response(new ReadableStream({ pull(c) { c.enqueue(chunk); } }));'), { wallMs: 1500, cpuMs: 5000 });
    const { result, neighbour } = await duringAttack(node, 'endless', async () => {
      const client = new Client(`http://127.0.0.1:${node.port}`);
      const t0 = performance.now();
      let bytes = 0;
      let ended = 'complete';
      try {
        const res = await client.request({ path: '/', method: 'GET', headers: { host: 'endless.localhost' } });
        for await (const chunk of res.body) bytes += (chunk as Buffer).byteLength;
      } catch (err) {
        ended = `cut: ${String(err)}`;
      } finally {
        await client.destroy();
      }
      return { bytes, ended, ms: performance.now() - t0 };
    });
    // The body ends (cut at the wall budget or the CPU budget), never runs on.
    expect(result.ended).toMatch(/^cut: /);
    expect(result.bytes).toBeGreaterThan(0);
    expect(result.ms).toBeLessThan(ATTACK_DEADLINE_MS);
    expect(neighbour.errors).toEqual([]);
  });

  it("keeps a log flood to the flooding function's own bounded log", async () => {
    await deploy('quiet-logger', mod('console.log("mine " + Date.now()); return new Response("logged");'));
    expect((await callTimed(node, 'quiet-logger')).body).toBe('logged');
    await deploy('log-flood', mod('for (let i = 0; i < 20000; i++) console.log("flood-line " + i + " " + "x".repeat(1000)); return new Response("flooded");'), { cpuMs: 10_000 });
    const { result: r, neighbour } = await duringAttack(node, 'log-flood', () => callTimed(node, 'log-flood'));
    expect([r.status, r.body]).toEqual([200, 'flooded']);
    expect(neighbour.errors).toEqual([]);
    expect((await callTimed(node, 'quiet-logger')).body).toBe('logged');
    const flood = await logsOf('log-flood', 200);
    const mine = await logsOf('quiet-logger', 2);
    // The node keeps at most EDGEFN_LOG_BYTES (256 KB, each line's text plus
    // 96 bytes) per function (router/function-logs.ts), and an isolate sends
    // at most ~1000 lines a second (runtime/live-isolate.ts).
    const kept = flood.reduce((n, l) => n + Buffer.byteLength(l) + 96, 0);
    expect(kept).toBeLessThanOrEqual(256 * 1024);
    expect(flood.length).toBeGreaterThan(100);
    expect(flood.some((l) => l.startsWith('flood-line '))).toBe(true);
    expect(mine.length).toBe(2);
    expect(mine.some((l) => l.includes('flood-line'))).toBe(false);
    // The drop is reported with the isolate's next line that goes out.
    await new Promise((res) => setTimeout(res, 1100));
    expect((await callTimed(node, 'log-flood', '/')).status).toBe(200);
    expect((await logsOf('log-flood', 1)).join('\n')).toMatch(/edgefn dropped \d+ log lines: more than 1000 a second from one isolate/);
  });

  it('refuses subrequests past the limit with an error the worker can catch', async () => {
    await deploy('subrequests', mod(`let ok = 0; try { for (let i = 0; i < 60; i++) { await (await fetch('${originUrl}/')).text(); ok++; } return new Response('no limit'); } catch (e) { return Response.json({ ok, name: e.name, message: e.message }); }`), { cpuMs: 2000 });
    const { result: r, neighbour } = await duringAttack(node, 'subrequests', () => callTimed(node, 'subrequests'));
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ ok: 50, message: expect.stringMatching(/subrequest/i) });
    expect(neighbour.errors).toEqual([]);
  });

  it('stops crypto.subtle and compression in a loop with 503 cpu-limit (host work is charged)', async () => {
    await deploy('digest-loop', mod('const data = new Uint8Array(1 << 20); for (;;) await crypto.subtle.digest("SHA-256", data);'));
    await deploy('gzip-loop', mod('const data = new Uint8Array(1 << 20).fill(7); for (;;) await new Response(new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();'));
    for (const name of ['digest-loop', 'gzip-loop']) {
      const { result: r, neighbour } = await duringAttack(node, name, () => callTimed(node, name));
      expect([r.status, r.error], name).toEqual([503, 'cpu-limit']);
      expect(r.ms).toBeLessThan(ATTACK_DEADLINE_MS);
      expect(neighbour.errors).toEqual([]);
    }
  });
});
