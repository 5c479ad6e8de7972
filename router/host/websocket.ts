// The host's side of a worker's WebSockets: the HTTP upgrade, and the
// framing, through the `ws` package. The isolate never sees a frame: the data
// plane turns each message into a budgeted entry (RequestHandle.socketMessage)
// and each of the worker's sends into a frame here.
//
// Bounds, so that one socket cannot make the host hold memory without limit:
//  - a message is at most `maxMessageBytes` either way (the client's larger
//    ones close the socket with 1009, as ws does; the worker's too);
//  - a client that does not read cannot make the host buffer the worker's
//    messages past `maxBufferedBytes`: the connection is dropped then (its
//    1011 close frame sent for form), and the worker's close event says why;
//  - what the client sends is handed to the isolate one message per turn of
//    the event loop; meanwhile ws stops reading the socket past its small
//    receive buffer, so the host keeps no queue of its own.
//  - a function may cap the messages per second its client sends
//    (limits.websocketMessagesPerSecond): past it the socket closes with 1008
//    and nothing more reaches the isolate, so a flood of small messages costs
//    the function no CPU budget and the host no entries.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SocketLimits } from '../../runtime/index.ts';

export interface WebSocketLimits {
  /** Largest message either way, in bytes. Default 1 MiB (Workers' own limit). */
  maxMessageBytes: number;
  /** The worker's messages the host holds unsent for a slow client at most, in bytes; past it the socket closes with 1011. Default 4 MiB. */
  maxBufferedBytes: number;
}

export const WEBSOCKET_DEFAULTS: Readonly<WebSocketLimits> = Object.freeze({ maxMessageBytes: 1024 * 1024, maxBufferedBytes: 4 * 1024 * 1024 });

/** A close reason is at most 123 UTF-8 bytes (RFC 6455 §5.5). */
const MAX_REASON_BYTES = 123;

/** What happens on the client's side of an accepted socket. */
export interface SocketEvents {
  message(data: string | Uint8Array): void;
  error(message: string): void;
  closed(code: number, reason: string, wasClean: boolean): void;
}

/** Headers the handshake sets itself, and hop-by-hop ones: a worker's values for these are not sent. */
const HANDSHAKE_HEADERS = new Set(['upgrade', 'connection', 'sec-websocket-accept', 'sec-websocket-extensions', 'sec-websocket-protocol', 'content-length', 'transfer-encoding', 'keep-alive', 'proxy-connection', 'te', 'trailer']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** `reason` cut to what a close frame carries, on a character boundary. */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  // '…' is 3 bytes.
  let out = reason.slice(0, MAX_REASON_BYTES);
  while (Buffer.byteLength(out) > MAX_REASON_BYTES - 3) out = out.slice(0, -1);
  return `${out}…`;
}

/**
 * A client's messages per second as a token bucket holding one second's
 * worth: a burst of `perSecond` is admitted at once, and over any stretch of
 * `t` seconds at most `perSecond × (1 + t)`. The clock is injectable for tests.
 */
export class MessageRate {
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(perSecond: number, now: () => number = performance.now.bind(performance)) {
    if (!Number.isInteger(perSecond) || perSecond < 1) throw new TypeError(`messages per second must be a positive whole number, got ${perSecond}`);
    this.#perSecond = perSecond;
    this.#now = now;
    this.#tokens = perSecond;
    this.#at = now();
  }

  /** Take one message's token; false when the client is over its rate. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#at) * this.#perSecond) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** One accepted socket: the worker's side of it. */
export class ServerSocket {
  readonly #ws: WebSocket;
  readonly #limits: WebSocketLimits;
  readonly #events: SocketEvents;
  readonly #rate: MessageRate | undefined;
  /** The worker was told the socket is over (at most once). */
  #reported = false;
  /** Why the host closed the socket on its own (the message rate): the worker's close event says this, whatever the client answers. */
  #policy: { code: number; reason: string } | undefined;

  constructor(ws: WebSocket, limits: WebSocketLimits, events: SocketEvents, socket: SocketLimits = { messagesPerSecond: 0 }) {
    this.#ws = ws;
    this.#limits = limits;
    this.#events = events;
    this.#rate = socket.messagesPerSecond > 0 ? new MessageRate(socket.messagesPerSecond) : undefined;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (this.#reported || this.#policy !== undefined) return;
      if (this.#rate !== undefined && !this.#rate.take()) {
        // The message over the rate and every later one are dropped unread
        // by the worker; the client gets 1008 and the usual closing handshake
        // (ws drops a client that does not answer it after 30 s).
        const reason = `more than ${socket.messagesPerSecond} messages per second from the client (limits.websocketMessagesPerSecond)`;
        this.#policy = { code: 1008, reason: closeReason(reason) };
        this.#close(1008, reason);
        return;
      }
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      events.message(isBinary ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.toString('utf8'));
    });
    ws.on('error', (err: Error) => {
      if (!this.#reported) events.error(err.message);
    });
    // 1006: the connection ended without a close frame (RFC 6455 §7.1.5), the only unclean end.
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.#policy !== undefined) this.#report(this.#policy.code, this.#policy.reason, code !== 1006);
      else this.#report(code, reason.toString('utf8'), code !== 1006);
    });
  }

  #report(code: number, reason: string, wasClean: boolean): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#events.closed(code, reason, wasClean);
  }

  /**
   * End a socket whose client cannot take more: the close frame is sent for
   * form, the connection is dropped at once (a client that does not read
   * would never answer it), and the worker hears why. Its close event comes
   * in a later turn: this runs inside the worker's send, in an entry.
   */
  #abort(code: number, reason: string): void {
    const ws = this.#ws;
    this.#close(code, reason);
    ws.terminate();
    setImmediate(() => this.#report(code, closeReason(reason), false));
  }

  /** A message from the worker. Past the message or buffer bound the socket closes instead. */
  send(data: string | Uint8Array): void {
    const ws = this.#ws;
    if (ws.readyState !== ws.OPEN) return;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (size > this.#limits.maxMessageBytes) {
      this.#abort(1009, `the worker sent a message of ${size} bytes; the limit is ${this.#limits.maxMessageBytes}`);
      return;
    }
    ws.send(data, { binary: typeof data !== 'string' });
    if (ws.bufferedAmount > this.#limits.maxBufferedBytes) {
      this.#abort(1011, `the client is not reading: more than ${this.#limits.maxBufferedBytes} bytes unsent`);
    }
  }

  /** The worker closed its end (the code was checked in the isolate). */
  close(code: number, reason: string): void {
    this.#close(code, reason);
  }

  /** The platform ends the socket: a budget, a crash, the wall time. */
  fail(reason: string): void {
    this.#close(1011, reason);
  }

  #close(code: number, reason: string): void {
    const ws = this.#ws;
    if (ws.readyState === ws.CLOSING || ws.readyState === ws.CLOSED) return;
    try {
      ws.close(code, closeReason(reason));
    } catch {
      // A code ws refuses (the isolate checks them; this is the last line).
      ws.close(1011, 'invalid close code');
    }
  }
}

export class WebSocketAcceptor {
  readonly #limits: WebSocketLimits;
  readonly #wss: WebSocketServer;
  /** The worker's headers and chosen subprotocol for the handshake in progress (handleUpgrade runs it synchronously). */
  #current: { headers: string[]; protocol: string | undefined } | undefined;

  constructor(limits: Partial<WebSocketLimits> = {}) {
    this.#limits = { ...WEBSOCKET_DEFAULTS, ...limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value < 1) throw new TypeError(`WebSocket limit ${name} must be a positive whole number of bytes, got ${value}`);
    }
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.#limits.maxMessageBytes,
      // One message per turn of the host's event loop: a burst of frames in
      // one read would otherwise run as back-to-back entries in one turn, and
      // the host's other connections (other tenants) would wait for all of it.
      allowSynchronousEvents: false,
      // The worker chooses, as in Workers: by the Sec-WebSocket-Protocol of its 101.
      handleProtocols: (offered) => {
        const chosen = this.#current?.protocol;
        return chosen !== undefined && offered.has(chosen) ? chosen : false;
      },
    });
    this.#wss.on('headers', (lines: string[]) => {
      const extra = this.#current?.headers ?? [];
      for (let i = 0; i + 1 < extra.length; i += 2) lines.push(`${extra[i]}: ${extra[i + 1]}`);
    });
  }

  /**
   * Complete the handshake of `req` on `socket` with the worker's 101
   * `headers` and the platform's `extra` ones, under the function's
   * `socketLimits` (none: no message rate). Undefined when the request is
   * not a valid WebSocket handshake: ws has then answered it (400/405) and
   * closed the connection.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, headers: string[], extra: string[], events: SocketEvents, socketLimits?: SocketLimits): ServerSocket | undefined {
    const out: string[] = [];
    let protocol: string | undefined;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      const lower = name.toLowerCase();
      if (lower === 'sec-websocket-protocol') protocol = value.trim();
      if (HANDSHAKE_HEADERS.has(lower) || !TOKEN.test(name) || !FIELD_VALUE.test(value)) continue;
      out.push(name, value);
    }
    out.push(...extra);
    let accepted: ServerSocket | undefined;
    this.#current = { headers: out, protocol };
    try {
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = new ServerSocket(ws, this.#limits, events, socketLimits);
      });
    } finally {
      this.#current = undefined;
    }
    return accepted;
  }
}
