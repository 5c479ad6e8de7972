// The local origin behind the reverse-proxy case: a 127.0.0.1 HTTP server
// that echoes what reached it, so the suite can see what each proxy forwarded.
// It also takes WebSocket upgrades (the WebSocket proxy case): it greets,
// answers text with "origin:" before it and binary with a 0 byte before it,
// and closes with 4002 "origin done" when sent "bye".

import { createServer, type Server } from 'node:http';
import { WebSocketServer } from 'ws';

export interface OriginServer {
  url: string;
  close(): Promise<void>;
}

export async function startOrigin(): Promise<OriginServer> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://origin.invalid');
      if (url.pathname === '/moved') {
        res.writeHead(302, { location: '/new-home' });
        res.end();
        return;
      }
      if (url.pathname === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain', 'x-internal': 'secret' });
        res.end('origin has no such thing');
        return;
      }
      const forwarded: Record<string, string | undefined> = {};
      for (const h of ['x-forwarded-proto', 'x-proxy', 'x-client', 'cookie', 'content-type']) forwarded[h] = req.headers[h] as string | undefined;
      const body = JSON.stringify({ method: req.method, path: url.pathname, query: url.search, headers: forwarded, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json', 'x-internal': 'secret', 'x-origin': 'yes', 'cache-control': 'max-age=60' });
      res.end(body);
    });
  });
  const sockets = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  sockets.on('connection', (ws) => {
    ws.send('origin hello');
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary && data.toString('utf8') === 'bye') ws.close(4002, 'origin done');
      else ws.send(isBinary ? Buffer.concat([Buffer.from([0]), data]) : `origin:${data.toString('utf8')}`, { binary: isBinary });
    });
  });
  server.on('upgrade', (req, socket, head) => sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('origin server has no port');
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        for (const ws of sockets.clients) ws.terminate();
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
