// Outbound WebSockets' host ops on their own: the SSRF guard on names (the
// checked lookup the socket connects with) and on literals, the subrequest
// count, and a round trip with a real server.

import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createWebSocketOps } from '../../../runtime/host-ops/websocket.ts';
import type { OpContext } from '../../../runtime/host-ops/types.ts';
import { DEFAULT_LIMITS } from '../../../runtime/limits.ts';

/** An op context as live-isolate.ts makes one, for one request of one isolate. */
function context(): OpContext & { cleanups: Array<() => void> } {
  const cleanups: Array<() => void> = [];
  return {
    fn: { name: 't', version: 1, format: 'module', code: '', env: {}, limits: { ...DEFAULT_LIMITS } },
    isolate: new Map(),
    request: new Map(),
    signal: undefined,
    onDispose: (c) => cleanups.push(c),
    cleanups,
  };
}

/** Resolves every name to `address`, as a DNS answer the worker does not control would. */
const fakeDns = (address: string): LookupFunction => ((_host: string, options: { all?: boolean }, cb: (err: null, a: unknown, f?: number) => void) => {
  if (options.all) cb(null, [{ address, family: 4 }]);
  else cb(null, address, 4);
}) as unknown as LookupFunction;

let server: WebSocketServer;
let port = 0;
beforeAll(async () => {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  server.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const c of server.clients) c.terminate();
  await new Promise((resolve) => server.close(resolve));
});

describe('websocket host ops', () => {
  it('refuses a name that resolves to a private address, naming both', async () => {
    const { ops } = createWebSocketOps({ lookup: fakeDns('10.0.0.5') });
    await expect(ops['websocket.connect']!({ id: 1, url: `ws://internal.test:${port}/`, protocols: [], headers: [] }, context())).rejects.toThrow(/"internal\.test" resolves to 10\.0\.0\.5, a private address/);
  });

  it('refuses a literal loopback address unless it is allowed', async () => {
    const { ops } = createWebSocketOps({});
    await expect(ops['websocket.connect']!({ id: 1, url: `ws://127.0.0.1:${port}/`, protocols: [], headers: [] }, context())).rejects.toThrow(/WebSocket to 127\.0\.0\.1 refused/);
  });

  it('counts a socket as a subrequest', async () => {
    const { ops } = createWebSocketOps({ allow: ['127.0.0.1'], subrequests: 1 });
    const ctx = context();
    ctx.request!.set('fetch:count', 1);
    await expect(ops['websocket.connect']!({ id: 1, url: `ws://127.0.0.1:${port}/`, protocols: [], headers: [] }, ctx)).rejects.toThrow(/Too many subrequests \(limit 1\)/);
  });

  it('connects to an allowed address and carries text and bytes both ways, then the close', async () => {
    const { ops, sync } = createWebSocketOps({ allow: ['127.0.0.1'] });
    const ctx = context();
    await ops['websocket.connect']!({ id: 7, url: `ws://127.0.0.1:${port}/`, protocols: [], headers: [] }, ctx);
    sync['websocket.send']!({ id: 7, data: 'hi' }, ctx);
    expect(await ops['websocket.receive']!({ id: 7 }, ctx)).toEqual({ kind: 'message', data: 'hi' });
    sync['websocket.send']!({ id: 7, data: new Uint8Array([1, 2]) }, ctx);
    expect(await ops['websocket.receive']!({ id: 7 }, ctx)).toEqual({ kind: 'message', data: new Uint8Array([1, 2]) });
    sync['websocket.close']!({ id: 7, code: 4000, reason: 'done' }, ctx);
    expect(await ops['websocket.receive']!({ id: 7 }, ctx)).toEqual({ kind: 'close', code: 4000, reason: 'done', wasClean: true });
    // Gone from the isolate's table once closed.
    expect(ctx.isolate.size).toBe(0);
  });
});
