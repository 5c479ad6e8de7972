// WebSocket and WebSocketPair as Cloudflare Workers has them (a lazy module:
// the prelude reaches it through websocket-seam.ts), for the server side of an upgrade:
//
//   const [client, server] = Object.values(new WebSocketPair());
//   server.accept();
//   server.addEventListener('message', (e) => server.send(e.data));
//   return new Response(null, { status: 101, webSocket: client });
//
// The `client` end leaves in the 101 response (dispatch.ts binds it to the
// request); the host then completes the handshake and the `server` end talks
// to the real client through it. Frames go out through the bridge's emit
// ('ws-send', 'ws-close' for the request the socket belongs to) and come in
// as `socketEvent` entries, each a budgeted entry of its own (live-isolate.ts).
// Text crosses as a string, binary as a copy of its bytes, delivered to the
// worker as an ArrayBuffer, as in Workers.
//
// The client side: `new WebSocket(url)` (open, events as in browsers) and
// `fetch(url, { headers: { Upgrade: 'websocket' } })`, whose 101 response's
// `webSocket` the worker accept()s. The host dials through fetch's SSRF guard
// (runtime/host-ops/websocket.ts); what the remote sends comes in through one
// pending 'websocket.receive' host call per socket, each answer an entry with
// a fresh CPU budget, and sends are synchronous host calls.
//
// `binaryType` is 'arraybuffer' by default, as in workerd before its
// `websocket_standard_binary_type` compatibility date (spring 2026), and
// 'blob' with that flag (dispatch.ts install sets it per worker); set to
// 'blob', binary messages arrive as Blobs, and other values are ignored (a
// WebIDL enum attribute), as workerd does. `send(blob)` sends the text
// "[object Blob]": workerd's send() takes a string or bytes, and a Blob
// converts to its string (checked against workerd 1.20260730).
//
// An outbound socket the worker has not accept()ed may be returned as a
// response's webSocket (`return fetch(url, { headers: { Upgrade: 'websocket' } })`,
// or `new Response(null, { status: 101, webSocket: r.webSocket })`): the
// isolate relays it to the client through a pair of its own (bindSocket),
// message for message and close for close, with no worker code in between.
//
// What is left out: the hibernation API (state.acceptWebSocket), returning a
// socket from new WebSocket(url) or an accepted one, and a pair whose ends
// talk to each other inside one isolate with neither returned (their messages
// wait for a peer that never comes).

import { defineGlobal } from './define.ts';
import { dispatch as dispatchEvent, Event, EventTarget } from './events.ts';
import type { MessageEvents } from './message-events.ts';
import { defaultBinaryType, type WebSocketModule } from './websocket-seam.ts';
import { provide, required } from './lazy.ts';
import { reportError } from './console.ts';
import { host, requestCall, setCurrentRequest } from './bridge.ts';
import { DOMException } from './dom-exception.ts';
import { blobFromBytes, type Blob as EdgefnBlob } from './blob.ts';
import { utf8Encode } from './encoding.ts';
import { apply, arrayBufferByteLength, arrayPush, box, bytesOf, copyArray, defineProperty, ignoreRejection, isView, promiseThen, rejectedWith, SafeMap, stringIndexOf, stringSlice, typedArrayBuffer, Uint8ArrayCtor } from './intrinsics.ts';
import { parseAbsoluteURL } from './url.ts';

// A lazy module of their own (workers construct them without sockets).
const { MessageEvent, CloseEvent, ErrorEvent } = required<MessageEvents>('message-events');

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** Longest close reason, in UTF-8 bytes (RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code). */
const MAX_REASON_BYTES = 123;

/** What a socket end sends out, as the bridge's emit kind and its arguments (a null-prototype record). */
interface Outgoing {
  kind: 'ws-send' | 'ws-close';
  a: string | Uint8Array | number;
  b: string | undefined;
}

/**
 * The connection behind a pair: the host side of one upgraded request, once
 * the client end has left in a 101 response.
 */
interface Link {
  /** The request the socket belongs to; 0 until the client end is returned. */
  request: number;
  /** Sends made before the client end was returned, in order. */
  pending: Outgoing[];
  /** The request is told the socket is over (dispatch.ts finishes it). */
  gone: (() => void) | undefined;
}

const INTERNAL = Symbol('internal');

/** Request id → the server end whose connection it is. */
const sockets = new SafeMap<number, WebSocket>();

/** Close codes an endpoint may send (RFC 6455 §7.4: 1004-1006 and 1015 are never sent; 3000-4999 are for applications). */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

let getLink: (ws: WebSocket) => Link | undefined;
let isClientEnd: (ws: unknown) => boolean;
/** A binary message as the worker receives it on `ws`: the ArrayBuffer, or a Blob of it when binaryType is "blob". */
let binaryData: (ws: WebSocket, buffer: ArrayBuffer) => ArrayBuffer | EdgefnBlob;
let deliver: (ws: WebSocket, event: Event) => void;
/** A message arrived on `ws`: to the worker, or on to the other end of a proxied socket. */
let incoming: (ws: WebSocket, data: string | ArrayBuffer) => void;
/** An outbound socket returned as a response's webSocket: the client end of a pair that relays to it, or undefined when `ws` is not one that can be. */
let relayOutbound: (ws: unknown) => WebSocket | undefined;
let closed: (ws: WebSocket, code: number, reason: string, wasClean: boolean) => void;
let makePair: () => [WebSocket, WebSocket];
let isSocket: (ws: unknown) => boolean;
let openOutbound: (ws: WebSocket, href: string, protocols: string[], headers: string[]) => Promise<WebSocket>;
let startReceiving: (ws: WebSocket) => void;
let forFetch: (href: string, headers: string[]) => Promise<WebSocket>;
let upgradeHeaders: (ws: WebSocket) => [string, string][];

/** The subprotocols a fetch() upgrade's `Sec-WebSocket-Protocol` headers offer (flat name/value list, names lower-case), in order. */
function offeredProtocols(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] !== 'sec-websocket-protocol') continue;
    const value = headers[i + 1]!;
    let from = 0;
    while (from <= value.length) {
      let to = stringIndexOf(value, ',', from);
      if (to < 0) to = value.length;
      let a = from;
      let b = to;
      while (a < b && (value[a] === ' ' || value[a] === '\t')) a++;
      while (b > a && (value[b - 1] === ' ' || value[b - 1] === '\t')) b--;
      if (b > a) arrayPush(out, stringSlice(value, a, b));
      from = to + 1;
    }
  }
  return out;
}

/** The headers of a fetch() upgrade's 101 Response for `ws`: the subprotocol the server chose, so that returning the response hands it on to the client. */
export function fetchUpgradeHeaders(ws: WebSocket): [string, string][] {
  return upgradeHeaders(ws);
}

let nextOutbound = 1;

/** The ArrayBuffer behind bytes the host sent (a fresh copy made for this isolate, so all of it is the message). */
function typedBuffer(bytes: Uint8Array): ArrayBuffer {
  return typedArrayBuffer(bytes) as ArrayBuffer;
}

/** `input` as a ws:/wss: URL; http(s) is mapped to ws(s) (as fetch's upgrade takes it). Throws SyntaxError as the WebSocket constructor does. */
function socketURL(input: string, fromFetch: boolean): string {
  const parsed = parseAbsoluteURL(input);
  if (parsed === null) throw new DOMException(`Failed to construct 'WebSocket': The URL '${input}' is invalid.`, 'SyntaxError');
  let href = parsed.href;
  const scheme = parsed.protocol;
  if (scheme === 'http:' || scheme === 'https:') href = `ws${stringSlice(href, 4)}`;
  else if (scheme !== 'ws:' && scheme !== 'wss:') throw new DOMException(`Failed to construct 'WebSocket': The URL's scheme must be 'ws', 'wss', 'http' or 'https'; '${scheme}' is not allowed.`, 'SyntaxError');
  if (parsed.hash !== '' && !fromFetch) throw new DOMException(`Failed to construct 'WebSocket': The URL contains a fragment identifier ('${parsed.hash}'). Fragment identifiers are not allowed in WebSocket URLs.`, 'SyntaxError');
  return href;
}

/**
 * fetch() of a request with `Upgrade: websocket` (fetch.ts): dial `url` with
 * the request's headers; resolves with the socket (not yet accepted) once the
 * handshake is done, rejects with the reason it failed.
 */
export function connectForFetch(url: string, headers: string[]): Promise<WebSocket> {
  let href: string;
  try {
    href = socketURL(url, true);
  } catch (err) {
    return rejectedWith(err);
  }
  return forFetch(href, headers);
}
/** The server end of the pair whose client end `ws` is, marking the client used; undefined when `ws` is not an unused client end. */
let useClient: (ws: unknown) => WebSocket | undefined;

export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;

  #state = OPEN;
  #accepted = false;
  /** Events that arrived before accept(), delivered by it. */
  #queued: Event[] | undefined = [];
  /** The server end holds the link; the client end only names its peer. */
  #link: Link | undefined;
  #peer: WebSocket | undefined;
  /** The client end was returned in a response (it can be only once). */
  #used = false;
  #handlers = new SafeMap<string, unknown>();
  /** An outbound socket's id in the host's table (0: an end of a pair). */
  #outbound = 0;
  #url: string | null = null;
  #protocol = '';
  #receiving = false;
  /** A proxied socket (bindSocket): what arrives on this end goes out on that one, and its close closes that one. */
  #relayTo: WebSocket | undefined;
  /** How binary messages reach the worker: 'arraybuffer' (ArrayBuffer) or 'blob' (Blob). */
  #binaryType: 'arraybuffer' | 'blob' = defaultBinaryType();

  constructor(url?: string | URL, protocols?: string | string[]) {
    super();
    if ((url as unknown) === INTERNAL) return;
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
    const href = socketURL(`${url as string}`, false);
    const list = protocols === undefined ? [] : typeof protocols === 'string' ? [protocols] : copyArray(protocols as string[]);
    for (let i = 0; i < list.length; i++) list[i] = `${list[i] as string}`;
    // Browser-style: events flow without accept(), and 'open' says when send() may start.
    this.#accepted = true;
    this.#queued = undefined;
    // Failure reaches the worker as error and close events.
    ignoreRejection(openOutbound(this, href, list, []));
  }

  get readyState(): number {
    return this.#state;
  }
  get url(): string | null {
    return this.#url;
  }
  get protocol(): string {
    return this.#protocol;
  }
  get extensions(): string {
    return '';
  }
  get binaryType(): string {
    return this.#binaryType;
  }
  set binaryType(value: string) {
    // A WebIDL enum attribute: a value outside the enum is ignored, not an error (workerd does the same).
    const v = `${value}`;
    if (v === 'arraybuffer' || v === 'blob') this.#binaryType = v;
  }
  get bufferedAmount(): number {
    return 0;
  }

  /** Start receiving events on this end (Workers: required before send, and events wait until then). */
  accept(): void {
    if (this.#used) throw new TypeError("Can't accept() WebSocket that was already used in a response.");
    if (this.#accepted) return;
    this.#accepted = true;
    const queued = this.#queued;
    this.#queued = undefined;
    if (queued !== undefined) for (let i = 0; i < queued.length; i++) this.#fire(queued[i] as Event);
    if (this.#outbound !== 0 && this.#state === OPEN) startReceiving(this);
  }

  send(message: string | ArrayBuffer | ArrayBufferView): void {
    if (!this.#accepted) throw new TypeError('You must call accept() on this WebSocket before sending messages.');
    if (this.#state === CONNECTING) throw new DOMException("Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.", 'InvalidStateError');
    if (this.#state !== OPEN) throw new TypeError("Can't call WebSocket send() after close().");
    let out: string | Uint8Array;
    if (typeof message === 'string') out = message;
    else if (isView(message)) out = bytesOf(message);
    else {
      let length = -1;
      try {
        length = arrayBufferByteLength(message as ArrayBuffer);
      } catch {
        // not an ArrayBuffer: sent as its string, as the WebSocket IDL's union converts it
      }
      out = length >= 0 ? new Uint8ArrayCtor(message as ArrayBuffer, 0, length) : `${message as unknown as string}`;
    }
    this.#out(box<Outgoing>({ kind: 'ws-send', a: out, b: undefined }));
  }

  close(code?: number, reason?: string): void {
    if (!this.#accepted) throw new TypeError('You must call accept() on this WebSocket before closing it.');
    let c = 1000;
    if (code !== undefined) {
      c = Math.trunc(Number(code));
      if (!sendableCode(c)) throw new DOMException(`Failed to execute 'close' on 'WebSocket': The close code must be 1000 or in the range 3000-4999 (or a registered code), got ${String(code)}.`, 'InvalidAccessError');
    }
    const r = reason === undefined ? '' : `${reason}`;
    if (utf8Encode(r).byteLength > MAX_REASON_BYTES) throw new DOMException(`Failed to execute 'close' on 'WebSocket': The close reason must not be longer than ${MAX_REASON_BYTES} UTF-8 bytes.`, 'SyntaxError');
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    this.#state = CLOSING;
    this.#out(box<Outgoing>({ kind: 'ws-close', a: c, b: r }));
  }

  get onmessage(): unknown {
    return this.#handlers.get('message') ?? null;
  }
  set onmessage(fn: unknown) {
    this.#handlers.set('message', fn);
  }
  get onclose(): unknown {
    return this.#handlers.get('close') ?? null;
  }
  set onclose(fn: unknown) {
    this.#handlers.set('close', fn);
  }
  get onerror(): unknown {
    return this.#handlers.get('error') ?? null;
  }
  set onerror(fn: unknown) {
    this.#handlers.set('error', fn);
  }
  get onopen(): unknown {
    return this.#handlers.get('open') ?? null;
  }
  set onopen(fn: unknown) {
    this.#handlers.set('open', fn);
  }

  #out(item: Outgoing): void {
    if (this.#outbound !== 0) {
      if (item.kind === 'ws-send') host().callSync('websocket.send', box({ id: this.#outbound, data: item.a }));
      else host().callSync('websocket.close', box({ id: this.#outbound, code: item.a, reason: item.b }));
      return;
    }
    const link = this.#link;
    if (link === undefined) return;
    if (link.request === 0) arrayPush(link.pending, item);
    else host().emit(link.request, item.kind, item.a, item.b);
  }

  /** Listeners first, then the on… handler (registered once, as the last listener, in effect). */
  #fire(event: Event): void {
    dispatchEvent(this, event);
    const handler = this.#handlers.get(eventType(event));
    if (typeof handler === 'function') {
      try {
        apply(handler as (e: Event) => void, this, [event]);
      } catch (err) {
        reportError(err);
      }
    }
  }

  static {
    getLink = (ws) => ws.#link;
    isClientEnd = (ws) => typeof ws === 'object' && ws !== null && #peer in ws && ws.#peer !== undefined && ws.#peer.#link !== undefined;
    isSocket = (ws) => typeof ws === 'object' && ws !== null && #peer in ws;
    forFetch = (href, headers) => {
      const ws = new WebSocket(INTERNAL as unknown as string);
      return openOutbound(ws, href, offeredProtocols(headers), headers);
    };
    upgradeHeaders = (ws) => (ws.#protocol === '' ? [] : [['sec-websocket-protocol', ws.#protocol]]);
    binaryData = (ws, buffer) => (ws.#binaryType === 'blob' ? blobFromBytes(new Uint8ArrayCtor(buffer), '') : buffer);
    incoming = (ws, data) => {
      const to = ws.#relayTo;
      if (to === undefined) {
        deliver(ws, new MessageEvent('message', box({ data: typeof data === 'string' ? data : binaryData(ws, data) })));
        return;
      }
      if (to.#state !== OPEN) return;
      try {
        to.#out(box<Outgoing>({ kind: 'ws-send', a: typeof data === 'string' ? data : new Uint8ArrayCtor(data), b: undefined }));
      } catch {
        // The other side is gone (the host dropped it): its close follows and ends this one.
      }
    };
    relayOutbound = (ws) => {
      if (!isSocket(ws)) return undefined;
      const outbound = ws as WebSocket;
      if (outbound.#outbound === 0 || outbound.#accepted || outbound.#used) return undefined;
      // (Indexed, not destructured: array iteration is the worker's to replace.)
      const pair = makePair();
      const client = pair[0];
      const server = pair[1];
      outbound.#used = true;
      outbound.#accepted = true;
      outbound.#queued = undefined;
      server.#accepted = true;
      server.#queued = undefined;
      outbound.#relayTo = server;
      server.#relayTo = outbound;
      // A fetch() upgrade resolves once the socket is open: receiving starts now, and what comes waits in the link until the 101 is out.
      if (outbound.#state === OPEN) startReceiving(outbound);
      return client;
    };
    deliver = (ws, event) => {
      if (ws.#queued !== undefined) arrayPush(ws.#queued, event);
      else ws.#fire(event);
    };
    closed = (ws, code, reason, wasClean) => {
      if (ws.#state === CLOSED) return;
      ws.#state = CLOSED;
      const to = ws.#relayTo;
      if (to === undefined) {
        deliver(ws, new CloseEvent('close', box({ code, reason, wasClean })));
        return;
      }
      if (to.#state !== OPEN && to.#state !== CONNECTING) return;
      // The close goes on with its code and reason; the ones no endpoint may
      // send (1005 no status, 1006 connection lost, 1015 TLS) become 1000 and 1011.
      to.#state = CLOSING;
      const c = sendableCode(code) ? code : code === 1005 ? 1000 : 1011;
      const r = sendableCode(code) ? reason : code === 1005 ? '' : 'the proxied WebSocket closed abnormally';
      try {
        to.#out(box<Outgoing>({ kind: 'ws-close', a: c, b: r }));
      } catch {
        // Already gone on the host's side.
      }
    };
    openOutbound = (ws, href, protocols, headers) => {
      const id = nextOutbound++;
      ws.#outbound = id;
      ws.#url = href;
      ws.#state = CONNECTING;
      return promiseThen(
        requestCall('websocket.connect', box({ id, url: href, protocols, headers })),
        (result) => {
          const v = result.value as { protocol?: unknown };
          ws.#protocol = typeof v.protocol === 'string' ? v.protocol : '';
          if (ws.#state === CONNECTING) ws.#state = OPEN;
          if (ws.#accepted) {
            deliver(ws, new Event('open'));
            startReceiving(ws);
          }
          return ws;
        },
        (err: unknown) => {
          const message = err instanceof Error ? err.message : `${err as string}`;
          deliver(ws, new ErrorEvent('error', box({ message, error: err })));
          closed(ws, 1006, '', false);
          throw err;
        },
      );
    };
    startReceiving = (ws) => {
      if (ws.#receiving) return;
      ws.#receiving = true;
      const id = ws.#outbound;
      const next = (): void => {
        promiseThen(
          requestCall('websocket.receive', box({ id })),
          (result) => {
            const e = result.value as { kind: string; data?: unknown; message?: string; code?: number; reason?: string; wasClean?: boolean };
            if (e.kind === 'message') {
              const d = e.data;
              // Binary arrives as bytes; the worker gets an ArrayBuffer (or a Blob), as for an accepted socket.
              incoming(ws, typeof d === 'string' ? d : typedBuffer(d as Uint8Array));
              next();
            } else if (e.kind === 'error') {
              deliver(ws, new ErrorEvent('error', box({ message: `${e.message ?? ''}` })));
              next();
            } else {
              closed(ws, Number(e.code), `${e.reason ?? ''}`, e.wasClean === true);
            }
          },
          (err: unknown) => {
            // The request that opened it ended, or the host dropped the socket.
            closed(ws, 1006, err instanceof Error ? err.message : '', false);
          },
        );
      };
      next();
    };
    makePair = () => {
      const client = new WebSocket(INTERNAL as unknown as string);
      const server = new WebSocket(INTERNAL as unknown as string);
      server.#link = { request: 0, pending: [], gone: undefined };
      client.#peer = server;
      server.#peer = client;
      return [client, server];
    };
    useClient = (ws) => {
      if (!isClientEnd(ws)) return undefined;
      const client = ws as WebSocket;
      if (client.#used || client.#accepted) return undefined;
      client.#used = true;
      return client.#peer;
    };
  }
}
Object.defineProperty(WebSocket.prototype, Symbol.toStringTag, { value: 'WebSocket', configurable: true });

// The event's type, read through the platform's own getter (a tenant can redefine `type` on its events).
const typeGetter = (Object.getOwnPropertyDescriptor(Event.prototype, 'type') as PropertyDescriptor).get as (this: Event) => string;
function eventType(event: Event): string {
  return apply(typeGetter, event, []);
}


export class WebSocketPair {
  constructor() {
    const pair = makePair();
    const client = pair[0];
    const server = pair[1];
    // Own enumerable 0 and 1, so Object.values() gives [client, server] as in Workers.
    defineProperty(this, 0, { value: client, enumerable: true, writable: true, configurable: true });
    defineProperty(this, 1, { value: server, enumerable: true, writable: true, configurable: true });
  }
}

/** Whether `value` is a WebSocket a Response may carry (response.ts's check of `webSocket`). */
export function isWebSocket(value: unknown): boolean {
  return isSocket(value);
}

/**
 * The worker answered request `id` with a 101 carrying `client`: bind the
 * pair's connection to the request. Returns the server end, or a message
 * saying why `client` cannot be returned. `gone` runs once the socket is over.
 */
export function bindSocket(client: unknown, id: number, gone: () => void): string | undefined {
  const server = useClient(relayOutbound(client) ?? client);
  if (server === undefined) {
    if (isClientEnd(client)) return 'the WebSocket in the response was already used (returned before, or accepted in the worker)';
    return "the WebSocket in the response is neither the client end of a WebSocketPair nor a fetch() upgrade's webSocket that was not accept()ed or returned before (a socket from new WebSocket(url), or one the worker accept()ed, cannot be handed to the client: relay it through a WebSocketPair)";
  }
  const link = getLink(server) as Link;
  link.request = id;
  link.gone = gone;
  sockets.set(id, server);
  return undefined;
}

/** After the 101 went out: what the worker sent before it follows, in order. */
export function flushSocket(id: number): void {
  const server = sockets.get(id);
  if (server === undefined) return;
  const link = getLink(server) as Link;
  const pending = copyArray(link.pending);
  link.pending = [];
  for (let i = 0; i < pending.length; i++) {
    const item = pending[i] as Outgoing;
    host().emit(id, item.kind, item.a, item.b);
  }
}

const KIND_MESSAGE = 'message';
const KIND_CLOSE = 'close';
const KIND_ERROR = 'error';

/**
 * Entry: something happened on request `id`'s socket. 'message' with the
 * data (a string, or an ArrayBuffer copy of binary); 'close' with code,
 * reason and wasClean (the socket is over: the request finishes once its
 * waitUntil work settles); 'error' with a message (a close follows).
 */
export function socketEvent(id: number, kind: string, a: unknown, b: unknown, c: unknown): void {
  const server = sockets.get(id);
  if (server === undefined) return;
  setCurrentRequest(id);
  if (kind === KIND_MESSAGE) {
    incoming(server, a as string | ArrayBuffer);
  } else if (kind === KIND_ERROR) {
    deliver(server, new ErrorEvent('error', box({ message: `${a as string}` })));
  } else if (kind === KIND_CLOSE) {
    socketGone(id, Number(a), `${b as string}`, c === true);
  }
}

/** Request `id` is over (closed by either side, cancelled, or past its wall time): the worker sees `close`, and the request may finish. */
export function socketGone(id: number, code: number, reason: string, wasClean: boolean): void {
  const server = sockets.get(id);
  if (server === undefined) return;
  sockets.delete(id);
  const link = getLink(server) as Link;
  const gone = link.gone;
  link.gone = undefined;
  closed(server, code, reason, wasClean);
  gone?.();
}

defineGlobal('WebSocket', WebSocket);
defineGlobal('WebSocketPair', WebSocketPair);
provide('websocket', { isWebSocket, bindSocket, flushSocket, socketEvent, socketGone, connectForFetch, fetchUpgradeHeaders } satisfies WebSocketModule);
