// WebSocket, WebSocketPair, MessageEvent and CloseEvent as Cloudflare Workers
// has them, for the server side of an upgrade:
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
// What is left out: the hibernation API (state.acceptWebSocket), `binaryType`
// other than 'arraybuffer', Blob messages, and a pair whose ends talk to each
// other inside one isolate with neither returned (their messages wait for a
// peer that never comes).

import { defineGlobal } from './define.ts';
import { dispatch as dispatchEvent, Event, EventTarget } from './events.ts';
import { reportError } from './console.ts';
import { host, setCurrentRequest } from './bridge.ts';
import { DOMException } from './dom-exception.ts';
import { utf8Encode } from './encoding.ts';
import { apply, arrayBufferByteLength, arrayPush, box, bytesOf, copyArray, defineProperty, isView, SafeMap, Uint8ArrayCtor } from './intrinsics.ts';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** Longest close reason, in UTF-8 bytes (RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code). */
const MAX_REASON_BYTES = 123;

// MessageEvent and CloseEvent (HTML §9.3, WebSockets §4): plain data events.

interface MessageEventInit extends EventInit {
  data?: unknown;
  origin?: string;
  lastEventId?: string;
}

export class MessageEvent extends Event {
  #data: unknown;
  #origin: string;
  #lastEventId: string;
  constructor(type: string, init?: MessageEventInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'MessageEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#data = init?.data ?? null;
    this.#origin = init?.origin === undefined ? '' : `${init.origin}`;
    this.#lastEventId = init?.lastEventId === undefined ? '' : `${init.lastEventId}`;
  }
  get data(): unknown {
    return this.#data;
  }
  get origin(): string {
    return this.#origin;
  }
  get lastEventId(): string {
    return this.#lastEventId;
  }
  get source(): null {
    return null;
  }
  get ports(): never[] {
    return [];
  }
}
Object.defineProperty(MessageEvent.prototype, Symbol.toStringTag, { value: 'MessageEvent', configurable: true });

interface CloseEventInit extends EventInit {
  code?: number;
  reason?: string;
  wasClean?: boolean;
}

export class CloseEvent extends Event {
  #code: number;
  #reason: string;
  #wasClean: boolean;
  constructor(type: string, init?: CloseEventInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'CloseEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#code = init?.code === undefined ? 0 : Number(init.code) & 0xffff;
    this.#reason = init?.reason === undefined ? '' : `${init.reason}`;
    this.#wasClean = Boolean(init?.wasClean);
  }
  get code(): number {
    return this.#code;
  }
  get reason(): string {
    return this.#reason;
  }
  get wasClean(): boolean {
    return this.#wasClean;
  }
}
Object.defineProperty(CloseEvent.prototype, Symbol.toStringTag, { value: 'CloseEvent', configurable: true });

interface ErrorEventInit extends EventInit {
  message?: string;
  error?: unknown;
}

export class ErrorEvent extends Event {
  #message: string;
  #error: unknown;
  constructor(type: string, init?: ErrorEventInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'ErrorEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#message = init?.message === undefined ? '' : `${init.message}`;
    this.#error = init?.error;
  }
  get message(): string {
    return this.#message;
  }
  get error(): unknown {
    return this.#error;
  }
  get filename(): string {
    return '';
  }
  get lineno(): number {
    return 0;
  }
  get colno(): number {
    return 0;
  }
}
Object.defineProperty(ErrorEvent.prototype, Symbol.toStringTag, { value: 'ErrorEvent', configurable: true });

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
let deliver: (ws: WebSocket, event: Event) => void;
let closed: (ws: WebSocket, code: number, reason: string, wasClean: boolean) => void;
let makePair: () => [WebSocket, WebSocket];
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

  constructor(url?: string | URL, _protocols?: string | string[]) {
    if ((url as unknown) !== INTERNAL) {
      throw new TypeError("Failed to construct 'WebSocket': edgefn does not open outbound WebSockets yet; a worker accepts them with new WebSocketPair().");
    }
    super();
  }

  get readyState(): number {
    return this.#state;
  }
  get url(): string | null {
    return null;
  }
  get protocol(): string {
    return '';
  }
  get extensions(): string {
    return '';
  }
  get binaryType(): string {
    return 'arraybuffer';
  }
  set binaryType(value: string) {
    if (`${value}` !== 'arraybuffer') throw new DOMException(`binaryType "${value}" is not supported; messages arrive as ArrayBuffer`, 'NotSupportedError');
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
  }

  send(message: string | ArrayBuffer | ArrayBufferView): void {
    if (!this.#accepted) throw new TypeError('You must call accept() on this WebSocket before sending messages.');
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
    deliver = (ws, event) => {
      if (ws.#queued !== undefined) arrayPush(ws.#queued, event);
      else ws.#fire(event);
    };
    closed = (ws, code, reason, wasClean) => {
      if (ws.#state === CLOSED) return;
      ws.#state = CLOSED;
      deliver(ws, new CloseEvent('close', box({ code, reason, wasClean })));
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
    const [client, server] = makePair();
    // Own enumerable 0 and 1, so Object.values() gives [client, server] as in Workers.
    defineProperty(this, 0, { value: client, enumerable: true, writable: true, configurable: true });
    defineProperty(this, 1, { value: server, enumerable: true, writable: true, configurable: true });
  }
}

/** Whether `value` is a WebSocket end a Response may carry (response.ts's check of `webSocket`). */
export function isWebSocket(value: unknown): boolean {
  return isClientEnd(value);
}

/**
 * The worker answered request `id` with a 101 carrying `client`: bind the
 * pair's connection to the request. Returns the server end, or a message
 * saying why `client` cannot be returned. `gone` runs once the socket is over.
 */
export function bindSocket(client: unknown, id: number, gone: () => void): string | undefined {
  const server = useClient(client);
  if (server === undefined) return 'the WebSocket in the response is not the client end of an unused WebSocketPair';
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
    deliver(server, new MessageEvent('message', box({ data: a })));
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
defineGlobal('MessageEvent', MessageEvent);
defineGlobal('CloseEvent', CloseEvent);
defineGlobal('ErrorEvent', ErrorEvent);
