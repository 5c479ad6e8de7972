// How a request travels: the front door hands each connection to an isolate
// host, which answers on it directly. What a client on one keep-alive
// connection sees: an early answer never leaves the connection stuck, an
// upload is I/O and not CPU, and a function's second request is served by
// the isolate its first request made.
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
  await node.deploy('counter', {
    script: `let isolateRequests = 0; export default { async fetch(req) {
      isolateRequests++;
      let n = 0;
      if (req.body) for await (const c of req.body) n += c.byteLength;
      return Response.json({ n, isolateRequests });
    } }`,
  });
  await node.deploy('fails-early', {
    script: `export default { async fetch(req) {
      const reader = req.body.getReader();
      await reader.read();
      throw new Error('gave up after the first chunk');
    } }`,
  });
  await node.deploy('ignores-body', { script: `export default { fetch() { return new Response('not reading that'); } }` });
});
afterAll(async () => {
  await node.close();
});

const MB = 1024 * 1024;

function body(totalMb: number, chunk = 64 * 1024): Readable {
  const piece = new Uint8Array(chunk).fill(1);
  let left = totalMb * MB;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk);
      left -= n;
      this.push(n === chunk ? piece : piece.subarray(0, n));
    },
  });
}

function serverTiming(headers: Record<string, string | string[] | undefined>, name: string): number | undefined {
  const m = new RegExp(`${name};dur=([0-9.]+)`).exec(String(headers['server-timing'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** A raw TCP connection to the data plane, so that nothing can quietly open a second one. */
async function rawConnection(): Promise<{ socket: Socket; received(): string; closed: Promise<void> }> {
  const socket = connect(node.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, received: () => text, closed };
}

describe('one keep-alive connection', () => {
  it('serves a function\'s second request with the isolate its cold first request made', async () => {
    const client = new Client(`http://127.0.0.1:${node.port}`, { pipelining: 1 });
    try {
      const first = await client.request({ path: '/', method: 'GET', headers: { host: 'counter.localhost' } });
      expect(await first.body.json()).toEqual({ n: 0, isolateRequests: 1 });
      expect(serverTiming(first.headers, 'cold')).toBeGreaterThan(0);
      const second = await client.request({ path: '/', method: 'GET', headers: { host: 'counter.localhost' } });
      expect(await second.body.json()).toEqual({ n: 0, isolateRequests: 2 });
      expect(serverTiming(second.headers, 'cold')).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  for (const [name, what] of [
    ['fails-early', 'a worker that throws after reading the first chunk'],
    ['ignores-body', 'a worker that answers without reading the body'],
  ] as const) {
    it(`answers the next request after ${what} of a 5 MB upload`, async () => {
      const client = new Client(`http://127.0.0.1:${node.port}`, { pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
      try {
        const early = await client.request({ path: '/', method: 'POST', headers: { host: `${name}.localhost`, 'content-length': String(5 * MB) }, body: body(5) });
        await early.body.text();
        expect(early.statusCode).toBe(name === 'fails-early' ? 500 : 200);
        // The same client, so the same connection when it is kept alive, or a new one when the answer said close.
        const next = await client.request({ path: '/', method: 'GET', headers: { host: 'counter.localhost' } });
        expect(next.statusCode).toBe(200);
        expect(((await next.body.json()) as { n: number }).n).toBe(0);
      } finally {
        await client.close();
      }
    });
  }

  it('closes the connection after an early answer to an upload too large to drain (Connection: close)', async () => {
    // A 20 MB body declared, 1 MB of it sent, then an early 500.
    const { socket, received, closed } = await rawConnection();
    socket.write(`POST / HTTP/1.1\r\nHost: fails-early.localhost\r\nContent-Length: ${20 * MB}\r\n\r\n`);
    socket.write(new Uint8Array(MB));
    for (let i = 0; i < 100 && !received().includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(received()).toMatch(/^HTTP\/1\.1 500/);
    // Past the drain limit the answer closes the connection rather than read 19 MB more.
    expect(received().toLowerCase()).toContain('connection: close');
    socket.end();
    await closed;
  });
});

describe('uploads', () => {
  it('counts a 100 MB upload at the default 50 ms CPU budget, charging the worker for its loop, not for the bytes', async () => {
    const client = new Client(`http://127.0.0.1:${node.port}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
    try {
      const res = await client.request({ path: '/', method: 'POST', headers: { host: 'counter.localhost', 'content-length': String(100 * MB) }, body: body(100) });
      const j = (await res.body.json()) as { n: number };
      expect(res.statusCode).toBe(200);
      expect(j.n).toBe(100 * MB);
      // The budget is 50 ms; a charge per socket chunk (~1,600 of them) would pass it.
      expect(serverTiming(res.headers, 'cpu')).toBeLessThan(50);
    } finally {
      await client.close();
    }
  });
});

describe('the front door', () => {
  it('answers 431 to a first request head larger than 16 KB and closes', async () => {
    const { socket, received, closed } = await rawConnection();
    socket.write(`GET / HTTP/1.1\r\nHost: counter.localhost\r\nX-Big: ${'a'.repeat(20_000)}`);
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 431/);
  });

  it('serves a connection whose first request is for no function, then one for a function', async () => {
    const client = new Client(`http://127.0.0.1:${node.port}`, { pipelining: 1 });
    try {
      const missing = await client.request({ path: '/', method: 'GET', headers: { host: 'nobody.localhost' } });
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['edgefn-error']).toBe('not-found');
      await missing.body.text();
      const found = await client.request({ path: '/', method: 'GET', headers: { host: 'counter.localhost' } });
      expect(found.statusCode).toBe(200);
      await found.body.text();
    } finally {
      await client.close();
    }
  });

  it('answers a malformed request line with 400 from the host parser', async () => {
    const { socket, received, closed } = await rawConnection();
    socket.write('THIS IS NOT HTTP\r\n\r\n');
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 400/);
  });
});
