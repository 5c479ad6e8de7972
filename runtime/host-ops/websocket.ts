// Outbound WebSockets, host side: the ops runtime/webapi/websocket.ts calls
// for `new WebSocket(url)` and for `fetch(url, { headers: { Upgrade: 'websocket' } })`.
//
//   websocket.connect {id, url, protocols, headers} → {protocol, extensions} once open
//   websocket.receive {id} → the next event: {kind: 'message', data} (text a string,
//                     binary a Uint8Array), {kind: 'error', message}, or the last,
//                     {kind: 'close', code, reason, wasClean}
//   websocket.send    {id, data}          (sync) one message out
//   websocket.close   {id, code, reason}  (sync) the worker's close
//
// The destination passes the same SSRF guard as fetch() (fetch-guard.ts: the
// literal check before connecting, the checked lookup for names) and counts as
// a subrequest of the request that opened it. A socket belongs to the isolate
// (sockets of one isolate may be used from any of its requests, as a chat
// room's are) and ends with the request that opened it, or the isolate.
//
// Bounds: what the remote sends waits here only until the worker's next
// receive; past `maxBufferedBytes` unreceived the socket is paused (TCP
// pushes back on the remote) until the worker catches up. What the worker
// sends to a remote that does not read closes the socket past the same bound.

import WebSocket from 'ws';
import type { LookupFunction } from 'node:net';
import { AllowList, checkLiteral, guardedLookup } from './fetch-guard.ts';
import { FETCH_DEFAULTS } from './fetch.ts';
import type { HostOp, HostOpSync, OpContext } from './types.ts';

export interface WebSocketClientOptions {
  /** As FetchOptions.allow: destinations exempt from the SSRF guard. */
  allow?: readonly string[] | undefined;
  /** As FetchOptions.subrequests: an opened socket counts as one. */
  subrequests?: number | undefined;
  /** ms to wait for the handshake. Default FETCH_DEFAULTS.timeoutMs. */
  timeoutMs?: number | undefined;
  lookup?: LookupFunction | undefined;
  /** Largest message either way, bytes. Default 1 MiB. */
  maxMessageBytes?: number | undefined;
  /** Bytes held for a slow side (received and not yet taken by the worker, or sent and not yet taken by the remote). Default 4 MiB. */
  maxBufferedBytes?: number | undefined;
}

type SocketEvent =
  | { kind: 'message'; data: string | Uint8Array }
  | { kind: 'error'; message: string }
  | { kind: 'close'; code: number; reason: string; wasClean: boolean };

/** Request headers the handshake sets itself, or that describe the worker's own connection. */
const HANDSHAKE_HEADERS = new Set(['upgrade', 'connection', 'host', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'content-length', 'transfer-encoding', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'expect']);

class ClientSocket {
  readonly ws: WebSocket;
  readonly #limit: number;
  readonly #queue: SocketEvent[] = [];
  #queuedBytes = 0;
  #paused = false;
  #waiter: ((e: SocketEvent) => void) | undefined;
  #ended = false;
  readonly #maxMessageBytes: number;

  constructor(ws: WebSocket, maxBufferedBytes: number, maxMessageBytes: number) {
    this.ws = ws;
    this.#limit = maxBufferedBytes;
    this.#maxMessageBytes = maxMessageBytes;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      // A compact copy: ws's buffers can be views into a larger one.
      this.#push({ kind: 'message', data: isBinary ? new Uint8Array(bytes) : bytes.toString('utf8') }, bytes.byteLength);
    });
    ws.on('error', (err: Error) => this.#push({ kind: 'error', message: err.message }, 0));
    ws.on('close', (code: number, reason: Buffer) => this.#push({ kind: 'close', code, reason: reason.toString('utf8'), wasClean: code !== 1006 }, 0));
  }

  #push(e: SocketEvent, bytes: number): void {
    if (this.#ended) return;
    if (e.kind === 'close') this.#ended = true;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      w(e);
      return;
    }
    this.#queue.push(e);
    this.#queuedBytes += bytes;
    if (!this.#paused && this.#queuedBytes > this.#limit) {
      this.#paused = true;
      this.ws.pause();
    }
  }

  /** The next event, as soon as there is one. */
  receive(): Promise<SocketEvent> {
    const e = this.#queue.shift();
    if (e === undefined) {
      if (this.#waiter !== undefined) return Promise.reject(new TypeError('websocket.receive: a receive is already waiting'));
      return new Promise((resolve) => (this.#waiter = resolve));
    }
    if (e.kind === 'message') this.#queuedBytes -= typeof e.data === 'string' ? Buffer.byteLength(e.data) : e.data.byteLength;
    if (this.#paused && this.#queuedBytes <= this.#limit / 2) {
      this.#paused = false;
      this.ws.resume();
    }
    return Promise.resolve(e);
  }

  send(data: string | Uint8Array): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (size > this.#maxMessageBytes) {
      this.fail(1009, `the worker sent a message of ${size} bytes; the limit is ${this.#maxMessageBytes}`);
      return;
    }
    ws.send(data, { binary: typeof data !== 'string' });
    if (ws.bufferedAmount > this.#limit) this.fail(1011, `the server is not reading: more than ${this.#limit} bytes unsent`);
  }

  close(code: number, reason: string): void {
    const ws = this.ws;
    if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
      return;
    }
    try {
      ws.close(code, reason);
    } catch {
      ws.close(1011);
    }
  }

  /** The platform ends the socket: the worker hears `code` and `reason` in its close event. */
  fail(code: number, reason: string): void {
    this.close(code, reason);
    this.ws.terminate();
    this.#push({ kind: 'close', code, reason, wasClean: false }, 0);
  }
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`webSocket.${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** Build the outbound WebSocket ops for one runtime; options are validated here. */
export function createWebSocketOps(options: WebSocketClientOptions = {}): { ops: Record<string, HostOp>; sync: Record<string, HostOpSync> } {
  const allow = new AllowList(options.allow ?? []);
  const subrequests = positiveInt('subrequests', options.subrequests, FETCH_DEFAULTS.subrequests);
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs, FETCH_DEFAULTS.timeoutMs);
  const maxMessageBytes = positiveInt('maxMessageBytes', options.maxMessageBytes, 1024 * 1024);
  const maxBufferedBytes = positiveInt('maxBufferedBytes', options.maxBufferedBytes, 4 * 1024 * 1024);
  const lookup = guardedLookup(allow, options.lookup);

  const socketOf = (ctx: OpContext, payload: unknown): ClientSocket => {
    const id = (payload as { id?: unknown } | null)?.id;
    const s = typeof id === 'number' ? ctx.isolate.get(`websocket:${id}`) : undefined;
    if (!(s instanceof ClientSocket)) throw new TypeError('This WebSocket has ended.');
    return s;
  };

  const connect: HostOp = (payload, ctx) => {
    const p = payload as { id?: unknown; url?: unknown; protocols?: unknown; headers?: unknown } | null;
    if (p === null || typeof p.id !== 'number' || typeof p.url !== 'string' || !Array.isArray(p.protocols) || !Array.isArray(p.headers)) {
      return Promise.reject(new TypeError('websocket.connect: malformed payload'));
    }
    const state = ctx.request;
    if (state === undefined) return Promise.reject(new Error('A WebSocket can only be opened while handling a request, not at the top level of a worker script.'));
    const n = ((state.get('fetch:count') as number | undefined) ?? 0) + 1;
    if (n > subrequests) return Promise.reject(new Error(`Too many subrequests (limit ${subrequests}): a request may make at most ${subrequests} outbound fetches and WebSockets. Raise it with EDGEFN_FETCH_SUBREQUESTS.`));
    state.set('fetch:count', n);
    let url: URL;
    try {
      url = new URL(p.url);
    } catch {
      return Promise.reject(new TypeError(`WebSocket: invalid URL "${p.url}"`));
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return Promise.reject(new TypeError(`WebSocket: the URL scheme "${url.protocol.slice(0, -1)}" is not supported; only ws and wss are.`));
    const refused = checkLiteral(url.hostname, allow);
    if (refused !== undefined) return Promise.reject(new TypeError(refused.message.replace(/^fetch to/, 'WebSocket to')));
    const headers: Record<string, string> = {};
    const flat = p.headers as unknown[];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = String(flat[i]).toLowerCase();
      if (!HANDSHAKE_HEADERS.has(name)) headers[name] = headers[name] === undefined ? String(flat[i + 1]) : `${headers[name]}, ${String(flat[i + 1])}`;
    }
    const ws = new WebSocket(url, (p.protocols as unknown[]).map(String), {
      headers,
      lookup,
      handshakeTimeout: timeoutMs,
      maxPayload: maxMessageBytes,
      perMessageDeflate: false,
      followRedirects: false,
      // One message per turn of the event loop, as on the server side (router/host/websocket.ts).
      allowSynchronousEvents: false,
    });
    const socket = new ClientSocket(ws, maxBufferedBytes, maxMessageBytes);
    const key = `websocket:${p.id}`;
    ctx.isolate.set(key, socket);
    // The socket ends with the request that opened it (its budget pays for it), or with the isolate.
    const signal = ctx.signal;
    const end = (): void => {
      ws.terminate();
      if (ctx.isolate.get(key) === socket) ctx.isolate.delete(key);
    };
    signal?.addEventListener('abort', end, { once: true });
    ctx.onDispose(end);
    ws.once('close', () => {
      signal?.removeEventListener('abort', end);
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ protocol: ws.protocol, extensions: ws.extensions }));
      ws.once('unexpected-response', (_req, res) => {
        reject(new TypeError(`WebSocket to ${url.href} failed: the server answered ${res.statusCode} instead of 101`));
        res.resume();
        ws.terminate();
      });
      ws.once('error', (err: Error) => {
        // The guard's refusal keeps its own words; the rest say where.
        const refusal = /refused:/.test(err.message) ? err.message.replace(/^fetch to/, 'WebSocket to') : `WebSocket to ${url.href} failed: ${err.message}`;
        reject(new TypeError(refusal));
      });
    });
  };

  const receive: HostOp = (payload, ctx) => {
    const s = socketOf(ctx, payload);
    return s.receive().then((e) => {
      if (e.kind === 'close') ctx.isolate.delete(`websocket:${(payload as { id: number }).id}`);
      return e;
    });
  };

  const send: HostOpSync = (payload, ctx) => {
    const data = (payload as { data?: unknown }).data;
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new TypeError('websocket.send: the message must be a string or bytes');
    socketOf(ctx, payload).send(data);
    return undefined;
  };

  const close: HostOpSync = (payload, ctx) => {
    const p = payload as { code?: unknown; reason?: unknown };
    const s = ctx.isolate.get(`websocket:${String((payload as { id?: unknown }).id)}`);
    if (s instanceof ClientSocket) s.close(typeof p.code === 'number' ? p.code : 1000, typeof p.reason === 'string' ? p.reason : '');
    return undefined;
  };

  return { ops: { 'websocket.connect': connect, 'websocket.receive': receive }, sync: { 'websocket.send': send, 'websocket.close': close } };
}
