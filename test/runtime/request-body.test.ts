// Streamed request bodies (runtime/request-body.ts, dispatch.ts's body
// stream): pushed without being asked for, held to a credit window, handed
// to the worker in batches, and moved into the isolate without being charged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, prepareScript, REQUEST_WINDOW_BYTES, Runtime, type FunctionSource, type Limits, type RequestHandle, type Timing } from '../../runtime/index.ts';

const KB = 1024;
const MB = 1024 * KB;

const fns = new Map<string, FunctionSource>();
let rt: Runtime;

beforeAll(async () => {
  rt = await Runtime.create({ source: (n) => fns.get(n), poolSize: 1 });
});
afterAll(() => {
  rt.destroy();
});

async function deploy(name: string, src: string, limits: Partial<Limits> = {}): Promise<void> {
  const p = await prepareScript(src, 'module');
  fns.set(name, { name, version: 1, format: 'module', code: p.code, env: {}, limits: { ...DEFAULT_LIMITS, ...limits } });
}

interface Upload {
  handle: RequestHandle;
  /** Resolves when the request is over (sink.done). */
  result: Promise<{ status?: number; body?: string; error?: string; done: Timing }>;
  /** How many times the runtime called sink.pull(). */
  pulls(): number;
  /** Resolves at the next sink.pull(). */
  nextPull(): Promise<void>;
  /** Resolves when the response head has arrived. */
  head: Promise<void>;
}

function upload(name: string, path = '/', headers: string[] = []): Upload {
  let pulls = 0;
  let onPull: (() => void) | undefined;
  let status: number | undefined;
  let body: string | undefined;
  let error: string | undefined;
  let handle: RequestHandle | undefined;
  let headed: () => void = () => {};
  const head = new Promise<void>((resolve) => (headed = resolve));
  const result = new Promise<{ status?: number; body?: string; error?: string; done: Timing }>((resolve) => {
    handle = rt.handle(name, 1, { method: 'POST', url: `http://${name}.localhost${path}`, headers, body: 'stream' }, {
      head(s, _h, b) {
        status = s;
        body = b instanceof Uint8Array ? new TextDecoder().decode(b) : String(b);
        headed();
      },
      chunk() {},
      end() {},
      fail(err) {
        error ??= err.code;
      },
      pull() {
        pulls++;
        const f = onPull;
        onPull = undefined;
        f?.();
      },
      done: (done) => resolve({ status, body, error, done }),
    });
  });
  if (handle === undefined) throw new Error('the runtime refused the request');
  return {
    handle,
    result,
    pulls: () => pulls,
    nextPull: () => new Promise<void>((resolve) => (onPull = resolve)),
    head,
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Push `total` bytes as a socket would: 64 KB reads, several per event-loop
 * turn, stopping when pushBody says so until the runtime calls pull().
 * `byte(i)` gives the value of byte i (default 0).
 */
async function pushLikeSocket(u: Upload, total: number, byte?: (i: number) => number): Promise<void> {
  const chunk = 64 * KB;
  const readsPerTurn = 8;
  for (let sent = 0; sent < total; ) {
    for (let i = 0; i < readsPerTurn && sent < total; i++) {
      const piece = new Uint8Array(Math.min(chunk, total - sent));
      if (byte !== undefined) for (let j = 0; j < piece.length; j++) piece[j] = byte(sent + j);
      sent += piece.length;
      if (!u.handle.pushBody(piece)) await u.nextPull();
    }
    await turn();
  }
  u.handle.pushBody(null);
}

/** Push 64 KB chunks until pushBody answers false (bounded, so a bug cannot spin the test); returns the bytes pushed. */
function fillWindow(u: Upload): number {
  for (let pushed = 64 * KB; pushed <= 4 * REQUEST_WINDOW_BYTES; pushed += 64 * KB) if (!u.handle.pushBody(new Uint8Array(64 * KB))) return pushed;
  throw new Error('pushBody never answered false');
}

const COUNTER = `export default { async fetch(req) { let n = 0; for await (const c of req.body) n += c.byteLength; return new Response(String(n)); } }`;

describe('streamed request bodies', () => {
  it('counts a 100 MB upload with for await at the default 50 ms CPU budget, charging a small part of it', async () => {
    await deploy('count', COUNTER);
    expect(fns.get('count')!.limits.cpuMs).toBe(50);
    const u = upload('count');
    const [r] = await Promise.all([u.result, pushLikeSocket(u, 100 * MB)]);
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ status: 200, body: String(100 * MB) });
    // Before request bodies were batched and moved in uncharged, this upload
    // was charged ~6 ms per MB and stopped at the budget. What is charged now
    // is the worker's read loop: ~100 entries of tens of µs, plus this fresh
    // isolate's one-time costs (loading the streams library ~1 ms, compiling
    // the read path): 6-17 ms measured on a 2-core host at load average 2-3,
    // up to 40 ms with two CPU-bound processes beside the test run (entries
    // shorter than 0.5 ms are charged their wall time, preemption included:
    // cpu-clock.ts). What must hold everywhere is that it fits the budget.
    expect(r.done.cpuMs).toBeLessThan(50);
  });

  it('answers false from pushBody once a window is queued, calls pull() once the worker has taken it, and hands it over as one chunk', async () => {
    await deploy('late', `export default { async fetch(req) {
      await new Promise((r) => setTimeout(r, 30));
      const sizes = []; for await (const c of req.body) sizes.push(c.byteLength); return Response.json(sizes);
    } }`);
    const u = upload('late');
    expect(fillWindow(u)).toBe(REQUEST_WINDOW_BYTES);
    expect(u.pulls()).toBe(0);
    await u.nextPull();
    expect(u.pulls()).toBe(1);
    u.handle.pushBody(new Uint8Array(10));
    u.handle.pushBody(null);
    expect(await u.result).toMatchObject({ status: 200, body: JSON.stringify([REQUEST_WINDOW_BYTES, 10]) });
    expect(u.pulls()).toBe(1);
  });

  it('drops chunks pushed after the worker cancelled the body, answering true, and lets a paused data plane go on', async () => {
    // The response head says the worker has its first chunk; it then reads
    // no more for a while, and cancels.
    await deploy('cancels', `export default { async fetch(req) {
      const reader = req.body.getReader();
      const first = await reader.read();
      return new Response(new ReadableStream({ async pull(c) {
        await new Promise((r) => setTimeout(r, 30));
        await reader.cancel('enough');
        c.enqueue(new TextEncoder().encode('read ' + first.value.byteLength));
        c.close();
      } }));
    } }`);
    const u = upload('cancels');
    u.handle.pushBody(new Uint8Array(100));
    await u.head;
    fillWindow(u);
    await u.nextPull();
    for (let i = 0; i < 64; i++) expect(u.handle.pushBody(new Uint8Array(64 * KB))).toBe(true);
    expect(u.handle.pushBody(null)).toBe(true);
    expect(await u.result).toMatchObject({ status: 200, error: undefined });
    expect(u.pulls()).toBe(1);
  });

  it('drops chunks pushed after the request finished, answering true, and calls pull() if the data plane was paused', async () => {
    await deploy('ignores', `export default { async fetch() { await new Promise((r) => setTimeout(r, 30)); return new Response('ignored'); } }`);
    const u = upload('ignores');
    fillWindow(u);
    const r = await u.result;
    expect(r).toMatchObject({ status: 200, body: 'ignored' });
    expect(u.pulls()).toBe(1);
    for (let i = 0; i < 64; i++) expect(u.handle.pushBody(new Uint8Array(64 * KB))).toBe(true);
    expect(u.handle.pushBody(null)).toBe(true);
  });

  it('keeps BYOB readers, text(), arrayBuffer(), clone() and formData() working across batches', async () => {
    await deploy('readers', `export default { async fetch(req) {
      const how = new URL(req.url).searchParams.get('how');
      if (how === 'byob') {
        const reader = req.body.getReader({ mode: 'byob' });
        let n = 0, sum = 0, reads = 0;
        for (let buf = new Uint8Array(4096); ; ) {
          const { done, value } = await reader.read(buf);
          if (done) break;
          reads++; n += value.byteLength; for (const b of value) sum = (sum + b) % 65521;
          buf = new Uint8Array(value.buffer);
        }
        return Response.json({ n, sum, reads });
      }
      if (how === 'text') { const t = await req.text(); return Response.json({ n: t.length, head: t.slice(0, 4), tail: t.slice(-4) }); }
      if (how === 'clone') { const copy = req.clone(); const [a, b] = await Promise.all([copy.arrayBuffer(), req.arrayBuffer()]); return Response.json({ a: a.byteLength, b: b.byteLength }); }
      if (how === 'bytes') { const b = new Uint8Array(await req.arrayBuffer()); let sum = 0; for (const x of b) sum = (sum + x) % 65521; return Response.json({ n: b.byteLength, sum }); }
      const form = await req.formData();
      const file = form.get('file');
      return Response.json({ name: form.get('name'), file: file.name, size: file.size });
    } }`, { cpuMs: 5000 });
    const total = 2 * MB + 123;
    const byte = (i: number): number => (i * 7 + 3) % 251;
    let want = 0;
    for (let i = 0; i < total; i++) want = (want + byte(i)) % 65521;
    const send = async (how: string, size: number, b: (i: number) => number, headers: string[] = []): Promise<unknown> => {
      const u = upload('readers', `/?how=${how}`, headers);
      const [r] = await Promise.all([u.result, pushLikeSocket(u, size, b)]);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(200);
      return JSON.parse(r.body!) as unknown;
    };
    const byob = (await send('byob', total, byte)) as { n: number; sum: number; reads: number };
    expect(byob).toMatchObject({ n: total, sum: want });
    expect(byob.reads).toBeGreaterThanOrEqual(Math.ceil(total / 4096));
    expect(await send('bytes', total, byte)).toEqual({ n: total, sum: want });
    expect(await send('clone', total, byte)).toEqual({ a: total, b: total });
    const letter = (i: number): number => 97 + (i % 26);
    expect(await send('text', total, letter)).toEqual({ n: total, head: 'abcd', tail: String.fromCharCode(...[total - 4, total - 3, total - 2, total - 1].map(letter)) });

    const boundary = 'edgefn-boundary';
    const fileBytes = 300 * KB;
    const form = new TextEncoder().encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nupload\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${'x'.repeat(fileBytes)}\r\n` +
        `--${boundary}--\r\n`,
    );
    expect(await send('form', form.byteLength, (i) => form[i]!, ['content-type', `multipart/form-data; boundary=${boundary}`])).toEqual({ name: 'upload', file: 'a.bin', size: fileBytes });
  });

  it('stops a worker that spins while reading the body at its CPU budget', async () => {
    await deploy('spins', `export default { async fetch(req) {
      // Work, not a clock: Date.now() stands still while the worker runs.
      let x = 0;
      for await (const c of req.body) { for (let i = 0; i < 3e6; i++) x += i & c.length; }
      return new Response('done' + x);
    } }`);
    const u = upload('spins');
    const [r] = await Promise.all([u.result, pushLikeSocket(u, 40 * MB)]);
    expect(r.error).toBe('ERR_CPU_LIMIT');
    expect(r.done.cpuMs).toBeGreaterThan(30);
    // The 50 ms budget as far as the in-entry guard stretches it on a loaded
    // machine (2.5×, runtime/cpu-clock.ts), doubled for that estimate lagging
    // a change of load: what is tested is that it stops, near its budget.
    expect(r.done.cpuMs).toBeLessThan(250);
  });

  // A regression test: bytes transferred into an isolate (copyInto with
  // transferIn) left isolated-vm's memory count once their ArrayBuffer was
  // transferred again, which the byte stream's enqueue does to every chunk.
  it('stops a worker that keeps every chunk at its memory limit', async () => {
    await deploy('hoards', `const kept = []; export default { async fetch(req) {
      for await (const c of req.body) kept.push(c);
      return new Response(String(kept.length));
    } }`, { memoryMb: 16, cpuMs: 5000 });
    const u = upload('hoards');
    const [r] = await Promise.all([u.result, pushLikeSocket(u, 64 * MB)]);
    expect(r.error).toBe('ERR_MEMORY_LIMIT');
  });

  it('ends the request when the client goes away mid-upload, and drops what comes after', async () => {
    await deploy('waits', COUNTER);
    const u = upload('waits');
    for (let i = 0; i < 8; i++) u.handle.pushBody(new Uint8Array(64 * KB));
    await turn();
    u.handle.cancel('the client disconnected');
    const r = await u.result;
    expect(r.status).toBeUndefined();
    expect(u.handle.pushBody(new Uint8Array(64 * KB))).toBe(true);
  });

  it('ends the request at its wall limit when the body stops arriving', async () => {
    await deploy('stalls', COUNTER, { wallMs: 200 });
    const u = upload('stalls');
    u.handle.pushBody(new Uint8Array(64 * KB));
    const r = await u.result;
    expect(r.error).toBe('ERR_WALL_LIMIT');
  });
});
