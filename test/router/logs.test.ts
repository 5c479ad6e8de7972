// Request ids, function logs and their live tail, on a real node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

/** Log kept per function on this node: small, so the byte bound is reached quickly. */
const LOG_BYTES = 8192;

let node: StartedNode;
beforeAll(async () => {
  node = await startNode({ env: { EDGEFN_LOG_BYTES: String(LOG_BYTES), EDGEFN_LOG_HEARTBEAT_MS: '200' } });
  const logger = `export default { async fetch(request) {
    const u = new URL(request.url);
    const n = Number(u.searchParams.get('n') ?? 1);
    const size = Number(u.searchParams.get('size') ?? 0);
    for (let i = 0; i < n; i++) console.log((u.searchParams.get('say') ?? 'line') + ' ' + i + ' ' + 'x'.repeat(size));
    if (u.searchParams.has('throw')) throw new Error('boom ' + u.searchParams.get('say'));
    return new Response('ok');
  } }`;
  for (const name of ['logger', 'other', 'bulky']) expect((await node.deploy(name, { script: logger })).status).toBe(201);
});
afterAll(async () => {
  await node.close();
});

interface Entry {
  id: string;
  time: string;
  level: string;
  message: string;
  version?: number;
  requestId?: string;
}

async function logs(name: string, query = ''): Promise<{ logs: Entry[]; cursor?: string }> {
  const res = await node.api(`/v1/functions/${name}/logs${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { logs: Entry[]; cursor?: string };
}

/**
 * The function's log once `check` holds for it. Console lines reach the host
 * just after the isolate entry that wrote them (isolated-vm delivers them as
 * an ignored callback), so they can trail the response by a moment.
 */
async function logsWhen(name: string, check: (lines: Entry[]) => boolean): Promise<Entry[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { logs: lines } = await logs(name);
    if (check(lines)) return lines;
    if (Date.now() > deadline) throw new Error(`log of ${name} never satisfied the check: ${JSON.stringify(lines.slice(-5))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A minimal, strict reader of a text/event-stream body (WHATWG HTML §9.2.6), independent of the SDK's. */
class SseReader {
  readonly events: Array<{ id: string | undefined; event: string; data: string; at: number }> = [];
  readonly comments: string[] = [];
  readonly #controller = new AbortController();
  #waiters: Array<() => void> = [];
  done: Promise<void>;

  constructor(res: Response) {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let ev: { id?: string; event?: string; data: string[] } = { data: [] };
    this.done = (async () => {
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done) return;
        buffer += value;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (ev.data.length > 0) this.events.push({ id: ev.id, event: ev.event ?? 'message', data: ev.data.join('\n'), at: performance.now() });
            ev = { data: [] };
          } else if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') ev.data.push(val);
            else if (field === 'id') ev.id = val;
            else if (field === 'event') ev.event = val;
          }
          for (const w of this.#waiters.splice(0)) w();
        }
      }
    })();
  }

  static async open(name: string, headers: Record<string, string> = {}, path = '/logs/tail'): Promise<SseReader> {
    const controller = new AbortController();
    const res = await node.api(`/v1/functions/${name}${path}`, { headers, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const r = new SseReader(res);
    r.#controller.signal.addEventListener('abort', () => controller.abort());
    return r;
  }

  entries(): Entry[] {
    return this.events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data) as Entry);
  }

  /** Resolves once `check` holds, or fails after `ms`. */
  async until(check: () => boolean, ms = 5000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!check()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`SSE condition not met in ${ms} ms; events: ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.#controller.abort();
  }
}

describe('request ids', () => {
  it('gives every response an edgefn-request-id, a different one each time', async () => {
    const a = await node.call('logger', '/?n=0');
    const b = await node.call('logger', '/?n=0');
    const ida = a.headers.get('edgefn-request-id');
    const idb = b.headers.get('edgefn-request-id');
    expect(ida).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(idb).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(ida).not.toBe(idb);
  });

  it("echoes a client's valid id and replaces an invalid one", async () => {
    const mine = 'client.id_01-ABC';
    const echoed = await node.call('logger', '/?n=0', { headers: { 'edgefn-request-id': mine } });
    expect(echoed.headers.get('edgefn-request-id')).toBe(mine);
    for (const bad of ['has space', 'x'.repeat(65), 'semi;colon', 'ünï']) {
      const res = await node.call('logger', '/?n=0', { headers: { 'edgefn-request-id': encodeURI(bad) === bad ? bad : bad.replace(/[^\x20-\x7e]/g, '?') } });
      const id = res.headers.get('edgefn-request-id');
      expect(id).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
      expect(id).not.toBe(bad);
    }
  });

  it('puts the id on error answers too (unknown function, uncaught exception)', async () => {
    const missing = await node.call('no-such-fn');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('edgefn-request-id')).toMatch(/^[A-Za-z0-9._-]+$/);
    const thrown = await node.call('logger', '/?n=0&throw&say=err', { headers: { 'edgefn-request-id': 'err-req-1' } });
    expect(thrown.status).toBe(500);
    expect(thrown.headers.get('edgefn-request-id')).toBe('err-req-1');
  });
});

describe('function logs', () => {
  it('stamps each console line and uncaught error with its request id, the version and the time', async () => {
    const before = Date.now();
    const res = await node.call('logger', '/?say=stamped', { headers: { 'edgefn-request-id': 'stamp-1' } });
    expect(res.status).toBe(200);
    await node.call('logger', '/?n=0&throw&say=stamp', { headers: { 'edgefn-request-id': 'stamp-2' } });
    const lines = await logsWhen('logger', (ls) => ls.some((l) => l.message.startsWith('stamped 0')) && ls.some((l) => l.requestId === 'stamp-2'));
    const line = lines.find((l) => l.message.startsWith('stamped 0'));
    expect(line).toMatchObject({ level: 'log', requestId: 'stamp-1', version: 1 });
    expect(Date.parse(line!.time)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(line!.time)).toBeLessThanOrEqual(Date.now() + 1000);
    const error = lines.find((l) => l.requestId === 'stamp-2');
    expect(error).toMatchObject({ level: 'error', version: 1 });
    expect(error!.message).toContain('boom stamp');
  });

  it('pages with since=<cursor> and limit, and reads from a time with since=<ISO time>', async () => {
    await node.call('other', '/?n=5&say=page');
    const all = (await logsWhen('other', (ls) => ls.filter((l) => l.message.startsWith('page')).length >= 5)).filter((l) => l.message.startsWith('page'));
    expect(all.map((l) => l.message.split(' ')[1])).toEqual(['0', '1', '2', '3', '4']);
    const first = await logs('other', `?since=${all[0]!.id}&limit=2`);
    expect(first.logs.map((l) => l.message.split(' ')[1])).toEqual(['1', '2']);
    expect(first.cursor).toBe(all[2]!.id);
    const rest = await logs('other', `?since=${first.cursor}&limit=100`);
    expect(rest.logs.map((l) => l.message.split(' ')[1])).toEqual(['3', '4']);
    const last = await logs('other', '?limit=1');
    expect(last.logs.map((l) => l.id)).toEqual([all[4]!.id]);
    const fromTime = await logs('other', `?since=${encodeURIComponent(all[0]!.time)}`);
    expect(fromTime.logs.map((l) => l.id)).toContain(all[0]!.id);
    const future = await logs('other', `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.logs).toEqual([]);
    for (const bad of ['?since=yesterday', '?limit=0', '?limit=abc', '?limit=10001']) {
      const res = await node.api(`/v1/functions/other/logs${bad}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_INPUT');
    }
  });

  it('keeps at most EDGEFN_LOG_BYTES of log per function, dropping the oldest lines', async () => {
    // 40 lines of ~500 bytes = ~20 KB, against a bound of 8 KB (each line also costs ~96 bytes of overhead).
    const res = await node.call('bulky', '/?n=40&size=500&say=bulk');
    expect(res.status).toBe(200);
    const kept = await logsWhen('bulky', (ls) => ls.some((l) => l.message.startsWith('bulk 39 ')));
    const bytes = kept.reduce((n, l) => n + Buffer.byteLength(l.message) + 96, 0);
    expect(bytes).toBeLessThanOrEqual(LOG_BYTES);
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.length).toBeLessThan(40);
    // The newest lines are the ones kept, in order.
    const numbers = kept.map((l) => Number(l.message.split(' ')[1]));
    expect(numbers.at(-1)).toBe(39);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(numbers[0]).toBe(40 - kept.length);
  });
});

describe('live tail (Server-Sent Events)', () => {
  it('delivers a line within 100 ms of the request that wrote it (bound 1 s on a loaded machine)', async () => {
    const tail = await SseReader.open('logger');
    await tail.until(() => tail.comments.length > 0);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const marker = `live-${i}-${Math.random().toString(36).slice(2)}`;
      // Measured: from sending the request to the tail's event arriving.
      const t0 = performance.now();
      const res = await node.call('logger', `/?say=${marker}`);
      expect(res.status).toBe(200);
      await tail.until(() => tail.entries().some((e) => e.message.startsWith(marker)), 5000);
      const ev = tail.events.find((e) => e.data.includes(marker))!;
      latencies.push(ev.at - t0);
      const entry = JSON.parse(ev.data) as Entry;
      expect(ev.id).toBe(entry.id);
      expect(entry.requestId).toBe(res.headers.get('edgefn-request-id'));
    }
    tail.close();
    console.log(`log tail latency, request sent → SSE event received (ms): ${latencies.map((l) => l.toFixed(1)).join(', ')}`);
    expect(Math.max(...latencies)).toBeLessThan(1000);
  });

  it("never carries another function's lines", async () => {
    const tail = await SseReader.open('logger');
    await tail.until(() => tail.comments.length > 0);
    await node.call('other', '/?n=20&say=foreign');
    const marker = `mine-${Math.random().toString(36).slice(2)}`;
    await node.call('logger', `/?say=${marker}`);
    await tail.until(() => tail.entries().some((e) => e.message.startsWith(marker)));
    tail.close();
    expect(tail.entries().filter((e) => e.message.startsWith('foreign'))).toEqual([]);
    expect((await logs('logger')).logs.filter((e) => e.message.startsWith('foreign'))).toEqual([]);
  });

  it('sends heartbeats while the function is quiet', async () => {
    const tail = await SseReader.open('other');
    // EDGEFN_LOG_HEARTBEAT_MS is 200 on this node.
    await tail.until(() => tail.comments.filter((c) => c.startsWith('heartbeat')).length >= 2, 5000);
    tail.close();
  });

  it('resumes after Last-Event-ID, and answers Accept: text/event-stream on the logs route', async () => {
    await node.call('other', '/?n=3&say=resume');
    const lines = (await logsWhen('other', (ls) => ls.filter((l) => l.message.startsWith('resume')).length >= 3)).filter((l) => l.message.startsWith('resume'));
    expect(lines).toHaveLength(3);
    const tail = await SseReader.open('other', { 'last-event-id': lines[0]!.id });
    await tail.until(() => tail.entries().length >= 2);
    expect(tail.entries().slice(0, 2).map((e) => e.id)).toEqual([lines[1]!.id, lines[2]!.id]);
    tail.close();
    const viaAccept = await SseReader.open('other', { accept: 'text/event-stream', 'last-event-id': lines[1]!.id }, '/logs');
    await viaAccept.until(() => viaAccept.entries().length >= 1);
    expect(viaAccept.entries()[0]!.id).toBe(lines[2]!.id);
    viaAccept.close();
  });

  it('needs the token and a known function', async () => {
    const res = await fetch(`${node.apiUrl}/v1/functions/logger/logs/tail`);
    expect(res.status).toBe(401);
    const missing = await node.api('/v1/functions/nope/logs/tail');
    expect(missing.status).toBe(404);
  });
});
