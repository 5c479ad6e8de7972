// Streaming one HTTP request to another data plane and its answer back, for
// the forwarder (to a node of another region, or to this node's own data
// plane) and for isolate hosts (a request on a connection they hold whose
// function runs only in other regions goes to their front door, which
// forwards it). The client's request body is the upstream request's body
// stream and the upstream body is piped to the client, so backpressure holds
// end to end and nothing is buffered whole.

import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline, type Duplex } from 'node:stream';
import type { UpgradeContext } from '../http-upgrade.ts';
import type { Pool } from 'undici';

export const FORWARDED_HEADER = 'edgefn-forwarded';
/**
 * Set by an isolate host on a request it sends to its own front door because
 * it does not serve the request's function. Such a request is never sent back
 * to an isolate host of this node (that could loop while the two disagree
 * about placement), and the header goes no further than the front door.
 */
export const REROUTED_HEADER = 'edgefn-rerouted';
/** Headers that describe one connection, not the request (RFC 9110 7.6.1), plus ours. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'proxy-authorization', 'proxy-authenticate', FORWARDED_HEADER, REROUTED_HEADER]);

export type OutgoingHeaders = Record<string, string | string[]>;

function requestHeaders(req: IncomingMessage): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k)) continue;
    const v = raw[i + 1]!;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function responseHeaders(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
}

export interface ProxyOptions {
  /** Added to the request's end-to-end headers. */
  extraHeaders?: OutgoingHeaders;
  /** Adjusts the response head before it is written; `started` is when the upstream request began (performance.now()). */
  decorate?(headers: OutgoingHeaders, started: number): void;
  /** Called just before the response head is written. */
  onHead?(): void;
}

/**
 * Send `req` through `pool` and stream the answer into `res`. Returns why the
 * upstream could not be reached (before any answer came), or undefined once
 * the answer is on its way to the client (or the client went away).
 */
export async function proxyRequest(pool: Pool, req: IncomingMessage, res: ServerResponse, o: ProxyOptions = {}): Promise<string | undefined> {
  const headers = requestHeaders(req);
  if (o.extraHeaders !== undefined) Object.assign(headers, o.extraHeaders);
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  const started = performance.now();
  let upstream;
  try {
    upstream = await pool.request({
      method: req.method as 'GET',
      path: req.url ?? '/',
      headers,
      body: hasBody(req) ? req : null,
      signal: abort.signal,
    });
  } catch (err) {
    res.off('close', onClose);
    if (abort.signal.aborted) return undefined;
    const e = err as Error & { code?: string };
    return e.code === undefined ? e.message : `${e.code}: ${e.message}`;
  }
  const out = responseHeaders(upstream.headers);
  o.decorate?.(out, started);
  o.onHead?.();
  res.writeHead(upstream.statusCode, out);
  pipeline(upstream.body, res, () => res.off('close', onClose));
  return undefined;
}

/**
 * Send upgrade request `req` (a WebSocket handshake) to the data plane at
 * `url` on a connection of its own, and when the upstream switches
 * protocols, write its 101 to the client and splice the two connections:
 * from then on the bytes flow both ways untouched, with TCP's backpressure
 * end to end (pipe pauses the faster side). Any other answer (an error, a
 * worker's 426) goes to `res` like a proxied response. Returns why the
 * upstream could not be reached (before any answer came), or undefined.
 */
export function proxyUpgrade(url: string, req: IncomingMessage, res: ServerResponse, up: UpgradeContext, o: ProxyOptions = {}): Promise<string | undefined> {
  const target = new URL(url);
  const headers: OutgoingHeaders = requestHeaders(req);
  if (o.extraHeaders !== undefined) Object.assign(headers, o.extraHeaders);
  headers['connection'] = 'Upgrade';
  headers['upgrade'] = req.headers.upgrade ?? 'websocket';
  const started = performance.now();
  return new Promise((resolve) => {
    let answered = false;
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url ?? '/', headers });
    const onClientClose = () => {
      if (!answered) upstream.destroy();
    };
    up.socket.once('close', onClientClose);
    upstream.once('upgrade', (upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
      answered = true;
      up.socket.off('close', onClientClose);
      const out = responseHeaders(upRes.headers);
      o.decorate?.(out, started);
      o.onHead?.();
      up.release();
      const lines = [`HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}`, 'Connection: Upgrade', `Upgrade: ${upRes.headers.upgrade ?? 'websocket'}`];
      for (const [k, v] of Object.entries(out)) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
      up.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upHead.byteLength > 0) up.socket.write(upHead);
      if (up.head.byteLength > 0) upSocket.write(up.head);
      // Either side's end or failure ends the other.
      const both = [up.socket, upSocket];
      for (const s of both) {
        s.on('error', () => {
          for (const t of both) t.destroy();
        });
        s.once('close', () => {
          for (const t of both) t.destroy();
        });
      }
      up.socket.pipe(upSocket);
      upSocket.pipe(up.socket);
      resolve(undefined);
    });
    upstream.once('response', (upRes: IncomingMessage) => {
      answered = true;
      up.socket.off('close', onClientClose);
      const out = responseHeaders(upRes.headers);
      o.decorate?.(out, started);
      o.onHead?.();
      res.writeHead(upRes.statusCode ?? 502, out);
      pipeline(upRes, res, () => {});
      resolve(undefined);
    });
    upstream.once('error', (err: Error & { code?: string }) => {
      if (answered) return;
      answered = true;
      up.socket.off('close', onClientClose);
      resolve(up.socket.destroyed ? undefined : err.code === undefined ? err.message : `${err.code}: ${err.message}`);
    });
    upstream.end();
  });
}
