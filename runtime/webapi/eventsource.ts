// EventSource (HTML §9.2, server-sent events), the client side, as browsers
// and Workers have it: a GET with `Accept: text/event-stream` through the
// platform's fetch (its SSRF guard, subrequest count and budgets apply), the
// stream parsed into MessageEvents, and reconnection with `Last-Event-ID`
// after the stream ends or the network fails, waiting the server's `retry:`
// (3 s until it says otherwise). A response that is not a 200
// `text/event-stream` fails the source for good (readyState CLOSED), as the
// standard says. A lazy global: a function that never touches it parses
// nothing of this file.
//
// Lines are split on the bytes CR and LF, which never occur inside a UTF-8
// sequence, and each whole line is decoded on its own: no streaming decoder,
// whose methods a worker could replace, is needed.

import { defineLazyGlobal } from './define.ts';
import { dispatch as dispatchEvent, Event, EventTarget } from './events.ts';
import type { MessageEvents } from './message-events.ts';
import { required } from './lazy.ts';
import { reportError } from './console.ts';
import { DOMException } from './dom-exception.ts';
import { createSignal, signalAbort } from './abort.ts';
import { drain, type Drain } from './streams.ts';
import { platformFetch } from './fetch.ts';
import { responseParts } from './response.ts';
import { parseAbsoluteURL } from './url.ts';
import { arm, disarm } from './timers.ts';
import { utf8Decode } from './encoding.ts';
import { apply, arrayPush, box, bytesOf, bytesView, isView, promiseThen, SafeMap, stringCharCodeAt, stringIndexOf, stringSlice, stringToLowerCase, typedArrayByteLength, typedArraySet, Uint8ArrayCtor } from './intrinsics.ts';

const { MessageEvent } = required<MessageEvents>('message-events');

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/** Reconnection time until the server sends `retry:` (ms); browsers wait about this long. */
const DEFAULT_RETRY_MS = 3000;
/** A line longer than this fails the source: a server that never ends a line must not fill the isolate. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

const CR = 13;
const LF = 10;

interface EventSourceInit {
  withCredentials?: boolean;
}

/** Strip HTTP whitespace (tab, space, CR, LF) from both ends. */
function trimHttpWhitespace(s: string): string {
  const ws = (c: number) => c === 9 || c === 10 || c === 13 || c === 32;
  let a = 0;
  let b = s.length;
  while (a < b && ws(stringCharCodeAt(s, a))) a++;
  while (b > a && ws(stringCharCodeAt(s, b - 1))) b--;
  return stringSlice(s, a, b);
}

class EventSource extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSED = CLOSED;

  #url: string;
  #origin: string;
  #withCredentials: boolean;
  #state = CONNECTING;
  #handlers = new SafeMap<string, unknown>();
  #retryMs = DEFAULT_RETRY_MS;
  #lastEventId = '';
  #abort: ReturnType<typeof createSignal> | undefined;
  #drain: Drain | undefined;
  #timer = 0;
  // Parser state (HTML §9.2.6): bytes of the line being read, and the event being built.
  #line: Uint8Array = new Uint8ArrayCtor(0);
  #lineLength = 0;
  #afterCR = false;
  #bomChecked = false;
  #data = '';
  #hasData = false;
  #eventType = '';
  #pendingId: string | undefined;

  constructor(url: string, init?: EventSourceInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'EventSource': 1 argument required, but only 0 present.");
    super();
    const parsed = parseAbsoluteURL(`${url}`);
    if (parsed === null) throw new DOMException(`Failed to construct 'EventSource': The URL '${url}' is invalid.`, 'SyntaxError');
    this.#url = parsed.href;
    this.#origin = parsed.origin;
    this.#withCredentials = Boolean(init?.withCredentials);
    this.#connect();
  }

  get url(): string {
    return this.#url;
  }
  get withCredentials(): boolean {
    return this.#withCredentials;
  }
  get readyState(): number {
    return this.#state;
  }
  get onopen(): unknown {
    return this.#handlers.get('open') ?? null;
  }
  set onopen(fn: unknown) {
    this.#handlers.set('open', fn);
  }
  get onmessage(): unknown {
    return this.#handlers.get('message') ?? null;
  }
  set onmessage(fn: unknown) {
    this.#handlers.set('message', fn);
  }
  get onerror(): unknown {
    return this.#handlers.get('error') ?? null;
  }
  set onerror(fn: unknown) {
    this.#handlers.set('error', fn);
  }

  close(): void {
    this.#state = CLOSED;
    this.#stop();
  }

  #stop(): void {
    if (this.#timer !== 0) disarm(this.#timer);
    this.#timer = 0;
    const drained = this.#drain;
    this.#drain = undefined;
    drained?.stop(new DOMException('The EventSource was closed.', 'AbortError'));
    const abort = this.#abort;
    this.#abort = undefined;
    if (abort !== undefined) signalAbort(abort);
  }

  #fire(event: Event, type: string): void {
    dispatchEvent(this, event);
    const handler = this.#handlers.get(type);
    if (typeof handler === 'function') {
      try {
        apply(handler as (e: Event) => void, this, [event]);
      } catch (err) {
        reportError(err);
      }
    }
  }

  #connect(): void {
    const abort = (this.#abort = createSignal());
    const headers: Array<[string, string]> = [
      ['accept', 'text/event-stream'],
      ['cache-control', 'no-store'],
    ];
    if (this.#lastEventId !== '') arrayPush(headers, ['last-event-id', this.#lastEventId]);
    promiseThen(
      platformFetch(this.#url, box({ method: 'GET', headers, redirect: 'follow' as const, signal: abort as unknown as globalThis.AbortSignal })),
      (response) => {
        if (this.#abort !== abort) return;
        const parts = responseParts(response as never);
        let contentType = '';
        for (let i = 0; i < parts.headers.length; i += 2) if (stringToLowerCase(parts.headers[i]!) === 'content-type') contentType = parts.headers[i + 1]!;
        const semicolon = stringIndexOf(contentType, ';');
        const essence = trimHttpWhitespace(stringToLowerCase(semicolon < 0 ? contentType : stringSlice(contentType, 0, semicolon)));
        if (parts.status !== 200 || essence !== 'text/event-stream' || parts.body === null || isView(parts.body)) {
          this.#fail();
          return;
        }
        this.#state = OPEN;
        this.#resetParser();
        this.#fire(new Event('open'), 'open');
        if (this.#abort !== abort) return;
        this.#drain = drain(
          parts.body,
          (chunk) => {
            if (this.#abort === abort && isView(chunk)) this.#feed(bytesOf(chunk as ArrayBufferView));
            return undefined;
          },
          () => {
            if (this.#abort !== abort) return;
            this.#drain = undefined;
            this.#reconnect();
          },
        );
      },
      () => {
        if (this.#abort === abort) this.#reconnect();
      },
    );
  }

  /** Fail the connection: no more attempts (HTML §9.2.3). */
  #fail(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#stop();
    this.#fire(new Event('error'), 'error');
  }

  /** Reestablish the connection after the reconnection time (HTML §9.2.3). */
  #reconnect(): void {
    if (this.#state === CLOSED) return;
    this.#abort = undefined;
    this.#state = CONNECTING;
    this.#fire(new Event('error'), 'error');
    if (this.#state !== CONNECTING || this.#timer !== 0 || this.#abort !== undefined) return;
    try {
      this.#timer = arm(
        () => {
          this.#timer = 0;
          if (this.#state === CONNECTING && this.#abort === undefined) this.#connect();
        },
        this.#retryMs,
        [],
        false,
      );
    } catch (err) {
      // No request to hang a timer on (the request that opened the source ended).
      this.#state = CLOSED;
      reportError(err);
    }
  }

  #resetParser(): void {
    this.#lineLength = 0;
    this.#afterCR = false;
    this.#bomChecked = false;
    this.#data = '';
    this.#hasData = false;
    this.#eventType = '';
    this.#pendingId = undefined;
  }

  #feed(bytes: Uint8Array): void {
    let start = 0;
    const length = typedArrayByteLength(bytes);
    if (!this.#bomChecked && this.#lineLength === 0) {
      // A leading UTF-8 byte order mark is skipped, once per stream.
      if (length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
      if (length >= 3) this.#bomChecked = true;
    }
    for (let i = start; i < length; i++) {
      const b = bytes[i]!;
      if (b === LF && this.#afterCR) {
        // The LF of a CRLF: its line ended at the CR.
        this.#afterCR = false;
        start = i + 1;
        continue;
      }
      this.#afterCR = b === CR;
      if (b !== CR && b !== LF) continue;
      this.#append(bytes, start, i);
      start = i + 1;
      this.#endLine();
      if (this.#state === CLOSED) return;
    }
    this.#append(bytes, start, length);
  }

  #append(bytes: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (this.#lineLength + n > MAX_LINE_BYTES) {
      reportError(new RangeError(`EventSource ${this.#url}: a line longer than ${MAX_LINE_BYTES} bytes; closing`));
      this.#fail();
      return;
    }
    const capacity = typedArrayByteLength(this.#line);
    if (this.#lineLength + n > capacity) {
      const want = this.#lineLength + n;
      const grown = new Uint8ArrayCtor(want > 2 * capacity ? (want > 256 ? want : 256) : 2 * capacity);
      typedArraySet(grown, bytesView(this.#line, 0, this.#lineLength), 0);
      this.#line = grown;
    }
    typedArraySet(this.#line, bytesView(bytes, from, to), this.#lineLength);
    this.#lineLength += n;
  }

  #endLine(): void {
    const line = this.#lineLength === 0 ? '' : utf8Decode(bytesView(this.#line, 0, this.#lineLength));
    this.#lineLength = 0;
    this.#bomChecked = true;
    if (line === '') {
      this.#dispatchEvent();
      return;
    }
    if (line[0] === ':') return;
    const colon = stringIndexOf(line, ':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = stringSlice(line, 0, colon);
      value = stringSlice(line, line[colon + 1] === ' ' ? colon + 2 : colon + 1);
    }
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        break;
      case 'id':
        if (stringIndexOf(value, '\0') < 0) this.#pendingId = value;
        break;
      case 'retry': {
        let ok = value.length > 0;
        for (let i = 0; i < value.length && ok; i++) {
          const c = stringCharCodeAt(value, i);
          ok = c >= 48 && c <= 57;
        }
        if (ok) this.#retryMs = Number(value);
        break;
      }
      default:
        break;
    }
  }

  #dispatchEvent(): void {
    // The last event ID buffer is kept even when no event is dispatched.
    if (this.#pendingId !== undefined) this.#lastEventId = this.#pendingId;
    this.#pendingId = undefined;
    const type = this.#eventType === '' ? 'message' : this.#eventType;
    const data = this.#data;
    const hasData = this.#hasData;
    this.#data = '';
    this.#hasData = false;
    this.#eventType = '';
    if (!hasData || this.#state !== OPEN) return;
    this.#fire(new MessageEvent(type, box({ data, origin: this.#origin, lastEventId: this.#lastEventId })), type);
  }
}
Object.defineProperty(EventSource.prototype, Symbol.toStringTag, { value: 'EventSource', configurable: true });
for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSED', CLOSED]] as const) {
  Object.defineProperty(EventSource.prototype, name, { value, enumerable: true });
}

defineLazyGlobal('EventSource', () => EventSource);
