// A reference HTTP server in its own process (so it does not share an event
// loop with the load generator; started by ref-process.ts):
//   node bench/lib/ref-server.ts bare   hello|hono  — the handler's work written straight to node:http (the ceiling)
//   node bench/lib/ref-server.ts whatwg <module>    — Node's own WHATWG path: build a Request, call the worker's fetch, write its Response
//   node bench/lib/ref-server.ts count              — reads the request body and answers with its length in bytes (the uploads question)
// Prints "listening <port>" on stdout and serves until its stdin closes.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { productView } from '../fixtures/hono-app/catalog.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function bare(app: string): Handler {
  if (app === 'hello') {
    return (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11 });
      res.end('Hello World');
    };
  }
  return (req, res) => {
    const m = /^\/api\/products\/(\d+)$/.exec(req.url ?? '');
    const view = m ? productView(Number(m[1])) : undefined;
    if (view === undefined) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.stringify(view);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=60', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

async function whatwg(modulePath: string): Promise<Handler> {
  const mod = (await import(pathToFileURL(modulePath).href)) as { default: { fetch(req: Request): Response | Promise<Response> } };
  const worker = mod.default;
  return (req, res) => {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers });
    void (async () => {
      try {
        const response = await worker.fetch(request);
        const out: string[] = [];
        response.headers.forEach((v, k) => out.push(k, v));
        const body = Buffer.from(await response.arrayBuffer());
        out.push('content-length', String(body.byteLength));
        res.writeHead(response.status, out);
        res.end(body);
      } catch {
        res.writeHead(500).end();
      }
    })();
  };
}

/** The same loop as the uploads worker: every chunk of the body, counted. */
function count(): Handler {
  return (req, res) => {
    void (async () => {
      let n = 0;
      for await (const c of req) n += (c as Buffer).byteLength;
      const body = String(n);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    })().catch(() => res.destroy());
  };
}

const [mode, arg] = process.argv.slice(2);
const handler = mode === 'bare' ? bare(arg ?? 'hello') : mode === 'count' ? count() : await whatwg(arg ?? '');
const server = createServer({ keepAliveTimeout: 65_000 }, handler);
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
