// The shared conformance suite: every case in cases/ is deployed to one edgefn
// node and to one Miniflare (workerd) instance, each request is sent to both,
// and the compared parts of the responses must be equal. A request with a
// `skip` reason renders as a skipped comparison; it still runs against
// workerd alone, so the case is known to be right when it is re-enabled.

import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Miniflare, type RequestInit as MiniflareRequestInit, type WorkerOptions } from 'miniflare';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { bundleWorkers } from './bundle.ts';
import type { BodyComparison, ConformanceCase, ConformanceRequest } from './case.ts';
import { startOrigin, type OriginServer } from './origin-server.ts';
import { EDGEFN_ONLY_GLOBALS, WORKERD_ONLY_GLOBALS } from './known-globals.ts';

const CASES_DIR = new URL('./cases/', import.meta.url);
const COMPATIBILITY_DATE = '2025-01-01';

function isCase(v: unknown): v is ConformanceCase {
  return typeof v === 'object' && v !== null && typeof (v as ConformanceCase).name === 'string' && Array.isArray((v as ConformanceCase).requests);
}

const cases: ConformanceCase[] = [];
for (const file of readdirSync(fileURLToPath(CASES_DIR)).filter((f) => f.endsWith('.ts')).sort()) {
  const mod = (await import(new URL(file, CASES_DIR).href)) as { default?: unknown };
  if (!isCase(mod.default)) throw new Error(`cases/${file} must export default defineCase({...})`);
  cases.push(mod.default);
}
if (new Set(cases.map((c) => c.name)).size !== cases.length) throw new Error('two cases share a name');

// Lists Object.getOwnPropertyNames(globalThis); deployed beside the cases.
const GLOBALS: ConformanceCase = { name: 'globals', worker: 'globals.ts', requests: [] };

let node: StartedNode;
let mf: Miniflare;
let origin: OriginServer;

beforeAll(async () => {
  origin = await startOrigin();
  const [scripts, started] = await Promise.all([
    bundleWorkers([...cases, GLOBALS]),
    // Outbound fetch refuses loopback unless allowed; the proxy case's origin is on 127.0.0.1.
    startNode({ env: { EDGEFN_FETCH_ALLOW: '127.0.0.1' } }),
  ]);
  node = started;
  const all = [...cases, GLOBALS];
  const workers: WorkerOptions[] = all.map((c) => {
    const script = scripts.get(c.name) as string;
    const bindings = c.vars?.({ origin: origin.url }) ?? {};
    // Routed by host, as edgefn routes <name>.localhost; dispatchFetch then
    // answers like workerd's HTTP front (an uncaught exception is a 500, not a
    // rejection as with getWorker().fetch).
    const routes = [`${c.name}.localhost/*`];
    const flags = c.compatibilityFlags === undefined ? {} : { compatibilityFlags: [...c.compatibilityFlags] };
    return c.format === 'service-worker'
      ? { name: c.name, script, compatibilityDate: COMPATIBILITY_DATE, bindings, routes, ...flags }
      : { name: c.name, modules: true, script, compatibilityDate: COMPATIBILITY_DATE, bindings, routes, ...flags };
  });
  mf = new Miniflare({ workers });
  const deployed = await Promise.all(
    all.map(async (c) => ({
      c,
      d: await node.deploy(c.name, {
        script: scripts.get(c.name),
        format: c.format ?? 'module',
        vars: c.vars?.({ origin: origin.url }) ?? {},
        // Budgets are not what this suite compares (Miniflare enforces none), and
        // edgefn's CPU clock is wall minus run delay: on 2 busy cores (this
        // file, workerd and another test file) a cold Hono start can pass the
        // default 50 ms and turn a comparison into a 503.
        limits: { cpuMs: 2_000 },
        ...(c.compatibilityFlags === undefined ? {} : { compatibilityFlags: c.compatibilityFlags }),
      }),
    })),
  );
  for (const { c, d } of deployed) if (d.status !== 201) throw new Error(`edgefn refused case ${c.name}: ${d.status} ${JSON.stringify(d.json)}`);
  await mf.ready;
});

afterAll(async () => {
  await Promise.all([mf?.dispose(), node?.close(), origin?.close()]);
});

/** The compared parts of one response, in a shape whose diff reads well. */
interface View {
  status: number;
  headers: Record<string, string | string[] | null>;
  body?: unknown;
}

interface Raw {
  status: number;
  header(name: string): string | null;
  setCookies(): string[];
  body: Uint8Array;
}

function view(raw: Raw, req: ConformanceRequest): View {
  const headers: View['headers'] = {};
  for (const h of req.headers_compared ?? []) headers[h] = h === 'set-cookie' ? raw.setCookies() : raw.header(h);
  const out: View = { status: raw.status, headers };
  const cmp: BodyComparison = req.body_compared ?? 'exact';
  const text = new TextDecoder().decode(raw.body);
  if (cmp === 'exact') out.body = { text, bytes: raw.body.byteLength };
  else if (cmp === 'json') {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (req.json_divergences !== undefined && typeof parsed === 'object' && parsed !== null) {
        for (const key of Object.keys(req.json_divergences)) delete (parsed as Record<string, unknown>)[key];
      }
      out.body = parsed;
    } catch {
      out.body = { notJson: text };
    }
  } else if (cmp !== 'ignore') out.body = cmp.normalise(text);
  return out;
}

async function callEdgefn(c: ConformanceCase, req: ConformanceRequest): Promise<Raw> {
  // Host with the port, as a real client sends it, so request.url matches workerd's.
  const init: RequestInit = { method: req.method ?? 'GET', headers: { host: `${c.name}.localhost:${node.port}`, ...req.headers } };
  if (req.body !== undefined) init.body = req.body;
  const res = await node.call(c.name, req.path, init);
  return { status: res.status, header: (n) => res.headers.get(n), setCookies: () => res.headers.getSetCookie(), body: new Uint8Array(await res.arrayBuffer()) };
}

async function callWorkerd(c: ConformanceCase, req: ConformanceRequest): Promise<Raw> {
  // The same URL edgefn's worker sees, so request.url is identical on both sides.
  const url = `http://${c.name}.localhost:${node.port}${req.path}`;
  const init: MiniflareRequestInit = { method: req.method ?? 'GET', redirect: 'manual' };
  if (req.headers !== undefined) init.headers = req.headers;
  if (req.body !== undefined) init.body = req.body;
  const res = await mf.dispatchFetch(url, init);
  return { status: res.status, header: (n) => res.headers.get(n), setCookies: () => res.headers.getSetCookie(), body: new Uint8Array(await res.arrayBuffer()) };
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

for (const c of cases) {
  describe(`${c.name} (${c.format ?? 'module'})`, () => {
    for (const req of c.requests) {
      const title = `${req.method ?? 'GET'} ${req.path} — ${req.name}`;
      if (req.skip !== undefined) {
        it.skip(`${title} [skipped: ${req.skip}]`, () => {});
        it(`${title} [workerd reference only]`, async () => {
          if (req.delay_ms !== undefined) await pause(req.delay_ms);
          expect((await callWorkerd(c, req)).status).toBe(req.status);
        });
        continue;
      }
      for (const [key, reason] of Object.entries(req.json_divergences ?? {})) it.skip(`${title} — .${key} [skipped: ${reason}]`, () => {});
      it(title, async () => {
        if (req.delay_ms !== undefined) await pause(req.delay_ms);
        const [edgefn, workerd] = await Promise.all([callEdgefn(c, req), callWorkerd(c, req)]);
        const w = view(workerd, req);
        // The case's own expectation, so a broken case cannot pass by failing the same way on both.
        expect(w.status, 'workerd status (the case expects this)').toBe(req.status);
        expect(view(edgefn, req), 'edgefn response vs workerd response').toEqual(w);
      });
    }
  });
}

describe('globals', () => {
  it('edgefn lacks only the documented workerd globals and adds only documented ones', async () => {
    const req: ConformanceRequest = { name: 'globals', path: '/', status: 200 };
    const [e, w] = await Promise.all([callEdgefn(GLOBALS, req), callWorkerd(GLOBALS, req)]);
    const names = (raw: Raw) => new Set((JSON.parse(new TextDecoder().decode(raw.body)) as { names: string[] }).names);
    const edgefn = names(e);
    const workerd = names(w);
    const edgefnOnly = [...edgefn].filter((n) => !workerd.has(n)).sort();
    const workerdOnly = [...workerd].filter((n) => !edgefn.has(n)).sort();
    expect(edgefnOnly.filter((n) => !(n in EDGEFN_ONLY_GLOBALS)), 'globals only edgefn has, not documented in known-globals.ts').toEqual([]);
    expect(workerdOnly.filter((n) => !(n in WORKERD_ONLY_GLOBALS)), 'workerd globals edgefn lacks, not documented in known-globals.ts').toEqual([]);
  });
});

/** What one side of the WebSocket echo said, in order: messages (binary as byte lists) and the close. */
type Transcript = Array<string | number[] | { close: number; reason: string }>;

/** The conversation the echo case has on each side: a text, a binary message, binaryType (then a binary message received as a Blob), a Blob sent, then a request to close. */
const ECHO_SCRIPT: Array<string | Uint8Array<ArrayBuffer>> = ['ping', new Uint8Array([1, 2, 3, 250]), 'binary type', new Uint8Array([7, 8, 9]), 'send a blob', 'close please'];
/** Messages the script expects back before the close: the greeting and one echo per message but the last. */
const ECHO_REPLIES = ECHO_SCRIPT.length;

/** The echo case over a real WebSocket to edgefn's data plane (the ws package as client). */
function echoEdgefn(path = '/', script = ECHO_SCRIPT): Promise<Transcript> {
  return new Promise((resolve, reject) => {
    const out: Transcript = [];
    const ws = new WebSocket(`ws://127.0.0.1:${node.port}${path}`, { headers: { host: `websocket-echo.localhost:${node.port}` } });
    let sent = 0;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      out.push(isBinary ? [...data] : data.toString('utf8'));
      if (sent < script.length) ws.send(script[sent++]!);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      out.push({ close: code, reason: reason.toString('utf8') });
      resolve(out);
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`edgefn answered ${res.statusCode}, not 101`)));
    ws.on('error', reject);
  });
}

/** The same conversation with workerd, through Miniflare's own client side (dispatchFetch with Upgrade, then accept()). */
async function echoWorkerd(path = '/', script = ECHO_SCRIPT): Promise<Transcript> {
  const res = await mf.dispatchFetch(`http://websocket-echo.localhost:${node.port}${path}`, { headers: { upgrade: 'websocket' } });
  const ws = res.webSocket;
  if (res.status !== 101 || ws === null) throw new Error(`workerd answered ${res.status}, not 101 with a webSocket`);
  return new Promise((resolve) => {
    const out: Transcript = [];
    let sent = 0;
    ws.addEventListener('message', (e) => {
      const d = e.data;
      out.push(typeof d === 'string' ? d : [...new Uint8Array(d as ArrayBuffer)]);
      if (sent < script.length) ws.send(script[sent++]!);
    });
    ws.addEventListener('close', (e) => {
      out.push({ close: e.code, reason: e.reason });
      resolve(out);
    });
    ws.accept();
  });
}

describe('WebSocket echo', () => {
  it('says the same over a real upgrade on both: greeting, text and binary echoes, then the worker’s close code and reason', async () => {
    const [edgefn, workerd] = await Promise.all([echoEdgefn(), echoWorkerd()]);
    // The case's own expectation, so both failing alike cannot pass.
    expect(workerd.length, 'workerd transcript (the case expects the greeting, one answer per message but the last, and a close)').toBe(ECHO_REPLIES + 1);
    expect(workerd.slice(3, 6), 'workerd: binaryType, a binary message as a Blob, a Blob sent').toEqual(['binaryType:arraybuffer,arraybuffer,blob', 'blob:3:"":7,8,9', '[object Blob]']);
    expect(workerd.at(-1), 'workerd close').toEqual({ close: 4001, reason: 'asked to' });
    expect(edgefn, 'edgefn transcript vs workerd transcript').toEqual(workerd);
  });
});

/** The proxy case's conversation with the origin through the worker: a text, a binary message, then "bye", which the origin closes on. */
const PROXY_SCRIPT: Array<string | Uint8Array<ArrayBuffer>> = ['one', new Uint8Array([7, 8]), 'bye'];

describe('WebSocket proxy', () => {
  for (const path of ['/proxy', '/proxy-wrap']) {
    it(`says the same through ${path === '/proxy' ? 'a fetch() upgrade returned as the response' : 'a fetch() upgrade’s webSocket in a new 101 Response'}: the origin’s greeting and answers, then its close code and reason`, async () => {
      const [edgefn, workerd] = await Promise.all([echoEdgefn(path, PROXY_SCRIPT), echoWorkerd(path, PROXY_SCRIPT)]);
      // The case's own expectation, so both failing alike cannot pass.
      expect(workerd, 'workerd transcript').toEqual(['origin hello', 'origin:one', [0, 7, 8], { close: 4002, reason: 'origin done' }]);
      expect(edgefn, 'edgefn transcript vs workerd transcript').toEqual(workerd);
    });
  }
});
