// A WebSocket to a function placed only in another region: the entry node's
// forwarder proxies the upgrade, and the two connections are spliced, so the
// socket works end to end through the hop.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { startCluster, stopCluster, waitFor, type RegionNode } from '../helpers/cluster.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

const ECHO = `export default {
  fetch(request) {
    if (request.headers.get('upgrade') !== 'websocket') return new Response('expected a WebSocket', { status: 426 });
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener('message', (e) => {
      if (e.data === 'close please') server.close(4001, 'asked to');
      else server.send(typeof e.data === 'string' ? 'echo:' + e.data : e.data);
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};`;

let postgres: StartedPostgres;
let a: RegionNode;
let b: RegionNode;

beforeAll(async () => {
  const cluster = await startCluster({ a: 5, b: 5 });
  postgres = cluster.postgres;
  [a, b] = cluster.nodes as [RegionNode, RegionNode];
  expect((await a.node.deploy('echo', { script: ECHO, regions: ['b'] })).status).toBe(201);
  await waitFor('b to serve echo', async () => (await b.node.call('echo')).status === 426);
  await waitFor('a to forward echo', async () => (await a.node.call('echo')).status === 426);
  // Served in a itself: a connection whose first request names it is held by one of a's isolate hosts.
  expect((await a.node.deploy('local', { script: `export default { fetch() { return new Response('here'); } }`, regions: ['a'] })).status).toBe(201);
  await waitFor('a to serve local', async () => (await a.node.call('local')).status === 200);
}, 120_000);

/** Read from `socket` until `done` says the bytes so far are enough. */
function readUntil(socket: Socket, done: (got: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (!done(got)) return;
      socket.off('data', onData);
      resolve(got);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

afterAll(() => stopCluster(postgres, [a, b]));

describe('WebSockets across regions', () => {
  it('proxies the upgrade through the entry region: messages both ways, then the worker’s close code and reason', async () => {
    const ws = new WebSocket(`${a.node.dataUrl.replace(/^http/, 'ws')}/`, { headers: { host: 'echo.localhost' } });
    const opened = new Promise((resolve) => ws.once('open', resolve));
    const region = await new Promise<string | undefined>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(res.headers['edgefn-region'] as string | undefined));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`no upgrade: ${res.statusCode} ${String(res.headers['edgefn-error'])}`)));
      ws.once('error', reject);
    });
    // Answered by region b, through a.
    expect(region).toBe('b');
    await opened;
    const next = () => new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
    let m = next();
    ws.send('hi');
    expect((await m).data.toString()).toBe('echo:hi');
    m = next();
    ws.send(Buffer.from([1, 2, 3]));
    const bin = await m;
    expect(bin.isBinary).toBe(true);
    expect([...bin.data]).toEqual([1, 2, 3]);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.send('close please');
    expect(await closed).toEqual({ code: 4001, reason: 'asked to' });
  });
});

describe('WebSockets across regions, on a connection an isolate host holds', () => {
  it('reroutes an upgrade that follows a local request on the same keep-alive connection, and splices it', async () => {
    const socket = connect(a.node.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    try {
      // The first request places the connection on a host of a (function "local" runs there).
      socket.write('GET / HTTP/1.1\r\nHost: local.localhost\r\n\r\n');
      const first = (await readUntil(socket, (b) => b.includes('here'))).toString();
      expect(first).toMatch(/^HTTP\/1\.1 200/);
      // The next one, on the same connection, is an upgrade for a function only b runs.
      socket.write('GET / HTTP/1.1\r\nHost: echo.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      const head = (await readUntil(socket, (b) => b.includes('\r\n\r\n'))).toString();
      expect(head).toMatch(/^HTTP\/1\.1 101/);
      expect(head).toMatch(/sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
      expect(head).toMatch(/edgefn-region: b/i);
      // One masked text frame "hi" (RFC 6455 §5.2); the echo comes back unmasked as "echo:hi".
      const mask = [1, 2, 3, 4];
      const payload = Buffer.from('hi').map((byte, i) => byte ^ mask[i % 4]!);
      socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, ...mask]), payload]));
      const frame = await readUntil(socket, (b) => b.length >= 2 && b.length >= 2 + (b[1]! & 0x7f));
      expect(frame[0]).toBe(0x81);
      expect(frame.subarray(2, 2 + (frame[1]! & 0x7f)).toString()).toBe('echo:hi');
    } finally {
      socket.destroy();
    }
  });
});
