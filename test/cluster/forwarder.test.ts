// The forwarder on its own: the marker that keeps a request to one hop, and
// the timeouts on connections it takes from a front door.

import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder, signMarker, verifyMarker } from '../../router/cluster/forwarder.ts';
import { PROBE_HOST, PROBE_PATH } from '../../router/cluster/membership.ts';

describe('the forwarding marker', () => {
  const now = 1_800_000_000;
  it('is trusted when made with the cluster secret within a minute, and names the entry region', () => {
    expect(verifyMarker('s3cret', signMarker('s3cret', 'eu-west', now), now + 59)).toBe('eu-west');
  });
  it('is not trusted with another secret, altered, stale, from the future, malformed, or when this node has no secret yet', () => {
    const good = signMarker('s3cret', 'eu-west', now);
    expect(verifyMarker('other', good, now)).toBeUndefined();
    expect(verifyMarker('s3cret', good.replace('eu-west', 'us-east'), now)).toBeUndefined();
    expect(verifyMarker('s3cret', good, now + 61)).toBeUndefined();
    expect(verifyMarker('s3cret', good, now - 61)).toBeUndefined();
    expect(verifyMarker('s3cret', 'eu-west;x', now)).toBeUndefined();
    expect(verifyMarker(undefined, good, now)).toBeUndefined();
  });
});

describe('Forwarder', () => {
  let server: Server | undefined;
  let forwarder: Forwarder | undefined;
  afterEach(async () => {
    forwarder?.close();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  });

  it('closes a taken connection whose next request head does not arrive within headersTimeout (regression: node:http checked only servers that listen)', async () => {
    const fw = (forwarder = new Forwarder({
      region: 'a',
      headersTimeoutMs: 500,
      keepAliveTimeoutMs: 65_000,
      baseDomain: 'localhost',
      selfUrl: () => 'http://127.0.0.1:1',
      secret: () => undefined,
      placement: () => undefined,
      servedHere: () => false,
      candidates: () => [],
      reportFailure: () => {},
    }));
    // A stand-in front door: reads the first head, then hands the socket over.
    server = createServer((socket) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        if (head.indexOf('\r\n\r\n') < 0) return;
        socket.off('data', onData);
        fw.adopt(socket, new Uint8Array(head));
      };
      socket.on('data', onData);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    const client = connect(port, '127.0.0.1');
    let received = '';
    client.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(performance.now())));
    client.write(`GET ${PROBE_PATH} HTTP/1.1\r\nHost: ${PROBE_HOST}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toMatch(/^HTTP\/1\.1 204 [\s\S]*edgefn-region: a/i);
    const started = performance.now();
    client.write('GET / HTTP/1.1\r\nHost: slow.localhost\r\n');
    // Measures: half a head sent → the connection closed; 500 ms timeout checked every 250 ms, so well under 5 s.
    expect((await closed) - started).toBeLessThan(5_000);
  });
});
