// The front door's readmit: a connection an isolate host died holding is read
// again and placed like a new one. Here the front door runs in this process,
// with an `adopt` that records what it was handed instead of a host.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { createFrontDoor, type FrontDoor } from '../../router/front-door.ts';

let door: FrontDoor | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((r) => (door === undefined ? r() : door.close(() => r())));
  door = undefined;
});

interface Handed {
  socket: Socket;
  head: string;
  key: string;
}

/** A front door on a loopback port whose hand-overs arrive, in order, through next(). */
async function start(): Promise<{ port: number; next(): Promise<Handed> }> {
  const handed: Handed[] = [];
  const waiters: Array<(h: Handed) => void> = [];
  door = createFrontDoor({
    keyFor: (host) => `${host ?? ''}@1`,
    adopt: (socket, head, key) => {
      // Reading stopped, it would not see the client go; a host destroys it on 'closed', here the test does.
      sockets.push(socket);
      const h = { socket, head: Buffer.from(head).toString('latin1'), key };
      const w = waiters.shift();
      if (w !== undefined) w(h);
      else handed.push(h);
    },
    headersTimeoutMs: 5_000,
    maxConnections: 100,
  });
  await new Promise<void>((r) => door!.listen(0, '127.0.0.1', () => r()));
  const port = (door.address() as { port: number }).port;
  return { port, next: () => new Promise((resolve) => (handed.length > 0 ? resolve(handed.shift()!) : waiters.push(resolve))) };
}

/** A client connection, and everything it has received so far. */
async function client(port: number): Promise<{ socket: Socket; received(): string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, received: () => got, closed };
}

const get = (host: string, path = '/') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe('front door readmit', () => {
  it('hands a readmitted connection over again with the next request head, which the first holder never read', async () => {
    const { port, next } = await start();
    const c = await client(port);
    c.socket.write(get('a.localhost', '/first'));
    const first = await next();
    expect([first.head, first.key]).toEqual([get('a.localhost', '/first'), 'a.localhost@1']);
    // The holder (a host) "dies" without reading; the next request waits in the socket buffer.
    c.socket.write(get('b.localhost', '/second'));
    await new Promise((r) => setTimeout(r, 50));
    door!.readmit(first.socket);
    const second = await next();
    expect([second.head, second.key]).toEqual([get('b.localhost', '/second'), 'b.localhost@1']);
    expect(second.socket).toBe(first.socket);
  });

  it('answers 503 host-restart with Retry-After when what follows is not a request line (the dead host read the start of it)', async () => {
    const { port, next } = await start();
    const c = await client(port);
    c.socket.write(get('a.localhost'));
    const first = await next();
    c.socket.write('st: a.localhost\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    door!.readmit(first.socket);
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 503 [^]*edgefn-error: host-restart\r\nretry-after: 1\r\nconnection: close\r\n/);
  });

  it('closes a readmitted connection with nothing to read when asked to, answering nothing, and waits for the next request otherwise', async () => {
    const { port, next } = await start();
    const silent = await client(port);
    silent.socket.write(get('a.localhost'));
    const s = await next();
    door!.readmit(s.socket, true);
    await silent.closed;
    // Not a 503: the dead host may have answered this connection's request whole.
    expect(silent.received()).toBe('');
    // Otherwise an idle connection is kept: its next request, sent later, is handed over.
    const idle = await client(port);
    idle.socket.write(get('a.localhost'));
    const i = await next();
    door!.readmit(i.socket);
    await new Promise((r) => setTimeout(r, 200));
    idle.socket.write(get('c.localhost', '/later'));
    expect((await next()).head).toBe(get('c.localhost', '/later'));
    expect(idle.received()).toBe('');
  });
});
