// A WebSocket to a function placed only in another region: the entry node's
// forwarder proxies the upgrade, and the two connections are spliced, so the
// socket works end to end through the hop.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
}, 120_000);

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
