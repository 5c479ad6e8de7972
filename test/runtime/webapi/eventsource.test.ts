// EventSource (runtime/webapi/eventsource.ts) against origin servers on
// 127.0.0.1 that this file starts, through the real host-side fetch.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const seen: Array<{ path: string; headers: IncomingMessage['headers'] }> = [];
let server: Server;
let O: string;
let iso: WebapiIsolate;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    seen.push({ path, headers: req.headers });
    const h = routes.get(path);
    if (h === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    h(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  O = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  iso = await createWebapiIsolate({ fetch: { allow: ['127.0.0.1'] } });
});
afterAll(async () => {
  iso.dispose();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });

// Collects what a source reports until `done(events)` says stop, then closes it.
const collect = (url: string, stop: string) => `
  const events = [];
  const es = new EventSource('${url}');
  await new Promise((resolve) => {
    es.onopen = () => events.push(['open', es.readyState]);
    es.onerror = () => { events.push(['error', es.readyState]); if (es.readyState === EventSource.CLOSED) resolve(); };
    const onEvent = (e) => { events.push([e.type, e.data, e.lastEventId, e.origin]); if (${stop}) resolve(); };
    es.onmessage = onEvent;
    es.addEventListener('ping', onEvent);
  });
  es.close();
  return [events, es.readyState];`;

describe('EventSource', () => {
  it('parses fields, comments, multi-line data, CRLF and CR line ends, a BOM and lines split across chunks', async () => {
    routes.set('/stream', (_req, res) => {
      sse(res);
      res.write('\uFEFF: a comment\n\ndata: a\ndata: b\n\n');
      res.write('event: ping\nid: 7\ndata:x\r\n\r\n');
      res.write('data: héllo wörld\rid\r\r');
      // One line in three chunks, its UTF-8 split inside a character.
      const tail = Buffer.from('data: ünïcode\n\n');
      res.write(tail.subarray(0, 4));
      setTimeout(() => res.write(tail.subarray(4, 9)), 20);
      setTimeout(() => res.write(tail.subarray(9)), 40);
    });
    const [events, state] = await iso.inRequest<[unknown[], number]>(collect(`${O}/stream`, 'events.length >= 5'));
    expect(events).toEqual([
      ['open', 1],
      ['message', 'a\nb', '', O],
      ['ping', 'x', '7', O],
      ['message', 'héllo wörld', '', O],
      ['message', 'ünïcode', '', O],
    ]);
    expect(state).toBe(2);
    const req = seen.find((s) => s.path === '/stream')!;
    expect(req.headers['accept']).toBe('text/event-stream');
    expect(req.headers['cache-control']).toBe('no-store');
  });

  it('reconnects after the stream ends, after the retry time the server set, sending Last-Event-ID', async () => {
    let n = 0;
    routes.set('/reconnect', (req, res) => {
      n++;
      sse(res);
      if (n === 1) res.end('retry: 30\nid: e1\ndata: first\n\n');
      else res.write(`data: second after ${String(req.headers['last-event-id'])}\n\n`);
    });
    const t0 = performance.now();
    const [events] = await iso.inRequest<[unknown[], number]>(collect(`${O}/reconnect`, "events.some((x) => x[1] && String(x[1]).startsWith('second'))"));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(30);
    expect(events).toEqual([
      ['open', 1],
      ['message', 'first', 'e1', O],
      ['error', 0],
      ['open', 1],
      ['message', 'second after e1', 'e1', O],
    ]);
    expect(n).toBe(2);
  });

  it('fails for good on a response that is not a 200 text/event-stream, without reconnecting', async () => {
    let n = 0;
    routes.set('/not-sse', (_req, res) => {
      n++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('data: x\n\n');
    });
    const [events, state] = await iso.inRequest<[unknown[], number]>(collect(`${O}/not-sse`, 'false'));
    expect(events).toEqual([['error', 2]]);
    expect(state).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(n).toBe(1);
  });

  it('close() ends the stream the server holds open', async () => {
    let closed!: () => void;
    const gone = new Promise<void>((resolve) => (closed = resolve));
    routes.set('/open', (req, res) => {
      sse(res);
      res.write('data: one\n\n');
      req.socket.once('close', () => closed());
    });
    const [events] = await iso.inRequest<[unknown[], number]>(collect(`${O}/open`, 'events.length >= 2'));
    expect(events).toEqual([['open', 1], ['message', 'one', '', O]]);
    await gone;
  });

  it('throws SyntaxError for a URL it cannot parse and has the readyState constants', async () => {
    const out = await iso.inRequest<unknown[]>(`
      let name;
      try { new EventSource('not a url'); } catch (e) { name = e.name + ' ' + (e instanceof DOMException); }
      return [name, EventSource.CONNECTING, EventSource.OPEN, EventSource.CLOSED, EventSource.prototype.CLOSED, Object.prototype.toString.call(EventSource.prototype)];`);
    expect(out).toEqual(['SyntaxError true', 0, 1, 2, 2, '[object EventSource]']);
  });
});
