// Response (Fetch §5.5).

import { defineGlobal } from './define.ts';
import { Headers, copyHeaders, freezeHeaders, headerList, rawGet, setIfAbsent } from './headers.ts';
import type { Blob } from './blob.ts';
import {
  type BodyState,
  bodyStream,
  cloneBody,
  consumeArrayBuffer,
  consumeBlob,
  consumeBytes,
  consumeFormData,
  consumeJson,
  consumeText,
  extractBody,
  isUnusable,
  isUsed,
  takeFast,
} from './body.ts';
import { utf8Encode } from './encoding.ts';
import { copyArray } from './intrinsics.ts';
import { parseAbsoluteURL } from './url.ts';
import { isWebSocket } from './websocket-seam.ts';

// Fetch "null body status": such a response may not carry a body.
function isNullBodyStatus(s: number): boolean {
  return s === 101 || s === 103 || s === 204 || s === 205 || s === 304;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// RFC 9112 reason-phrase: HTAB, SP, VCHAR, obs-text.
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const INTERNAL = Symbol('internal');

export interface ResponseParts {
  status: number;
  statusText: string;
  headers: string[];
  body: null | Uint8Array | ReadableStream<Uint8Array>;
}

export let isResponse: (value: unknown) => value is Response;
/** A Response's Headers, read from the private field (the getter is a tenant's to redefine). */
export let responseHeaders: (r: Response) => Headers;
export let responseParts: (r: Response) => ResponseParts;
/** A Response's webSocket (null for none), read from the private field. */
export let responseWebSocket: (r: Response) => unknown;

export class Response implements globalThis.Response {
  #status = 200;
  #statusText = '';
  #type: ResponseType = 'default';
  #headers: Headers;
  #body: BodyState | null = null;
  #webSocket: unknown = null;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if ((body as unknown) === INTERNAL) {
      this.#headers = new Headers();
      return;
    }
    if (init !== undefined && init !== null && typeof init !== 'object') throw new TypeError("Failed to construct 'Response': The provided value is not of type 'ResponseInit'.");
    if (init !== undefined && init !== null) {
      // Workers' extension: a 101 answering a WebSocket upgrade carries the pair's client end (websocket.ts).
      const webSocket = (init as { webSocket?: unknown }).webSocket;
      if (webSocket !== undefined && webSocket !== null) {
        if (!isWebSocket(webSocket)) throw new TypeError("Failed to construct 'Response': webSocket must be the client end of a WebSocketPair.");
        this.#webSocket = webSocket;
      }
      if (init.status !== undefined) {
        // WebIDL unsigned short, then Fetch's range check.
        const s = Number(init.status);
        const status = Number.isFinite(s) ? Math.trunc(s) % 65536 : 0;
        if (status === 101 && this.#webSocket === null) throw new RangeError("Failed to construct 'Response': a response with status 101 must carry a webSocket.");
        if (status !== 101 && (status < 200 || status > 599)) throw new RangeError(`Failed to construct 'Response': The status provided (${status}) is outside the range [200, 599].`);
        this.#status = status;
      }
      if (this.#webSocket !== null && this.#status !== 101) throw new RangeError("Failed to construct 'Response': a response carrying a webSocket must have status 101.");
      if (init.statusText !== undefined) {
        const t = String(init.statusText);
        if (!REASON_PHRASE.test(t)) throw new TypeError("Failed to construct 'Response': Invalid statusText.");
        this.#statusText = t;
      }
      this.#headers = init.headers !== undefined ? new Headers(init.headers) : new Headers();
    } else {
      this.#headers = new Headers();
    }
    if (body !== undefined && body !== null) {
      if (isNullBodyStatus(this.#status)) throw new TypeError(`Failed to construct 'Response': Response with null body status (${this.#status}) cannot have body.`);
      const { state, type } = extractBody(body);
      this.#body = state;
      if (type !== null) setIfAbsent(this.#headers, 'content-type', type);
    }
  }

  static error(): Response {
    const r = new Response(INTERNAL as unknown as null);
    r.#type = 'error';
    r.#status = 0;
    freezeHeaders(r.#headers);
    return r;
  }

  static redirect(url: string | URL, status = 302): Response {
    const s = String(url);
    const parsed = parseAbsoluteURL(s);
    if (parsed === null) throw new TypeError(`Failed to execute 'redirect' on 'Response': Invalid URL "${s}".`);
    const code = Math.trunc(Number(status));
    if (!REDIRECT_STATUSES.has(code)) throw new RangeError(`Failed to execute 'redirect' on 'Response': Invalid status code ${String(status)}.`);
    const r = new Response(INTERNAL as unknown as null);
    r.#status = code;
    r.#headers.set('location', parsed.href);
    freezeHeaders(r.#headers);
    return r;
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data);
    // Fetch "serialize a JavaScript value to JSON bytes" throws on undefined (and functions, symbols).
    if (text === undefined) throw new TypeError("Failed to execute 'json' on 'Response': The data is not JSON serializable.");
    const r = new Response(null, init);
    if (isNullBodyStatus(r.#status)) throw new TypeError(`Failed to execute 'json' on 'Response': Response with null body status (${r.#status}) cannot have body.`);
    r.#body = extractBody(text).state;
    setIfAbsent(r.#headers, 'content-type', 'application/json');
    return r;
  }

  get type(): ResponseType {
    return this.#type;
  }
  get url(): string {
    return '';
  }
  get redirected(): boolean {
    return false;
  }
  get status(): number {
    return this.#status;
  }
  get ok(): boolean {
    return this.#status >= 200 && this.#status <= 299;
  }
  /** The WebSocket a 101 response hands the client (Workers' extension); null otherwise. */
  get webSocket(): unknown {
    return this.#webSocket;
  }
  get statusText(): string {
    return this.#statusText;
  }
  get headers(): Headers {
    return this.#headers;
  }

  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    return bodyStream(this.#body) as ReadableStream<Uint8Array<ArrayBuffer>> | null;
  }
  get bodyUsed(): boolean {
    return isUsed(this.#body);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return consumeArrayBuffer(this.#body);
  }
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return consumeBytes(this.#body);
  }
  text(): Promise<string> {
    return consumeText(this.#body);
  }
  json(): Promise<unknown> {
    return consumeJson(this.#body);
  }
  blob(): Promise<Blob> {
    return consumeBlob(this.#body, rawGet(this.#headers, 'content-type'));
  }
  formData(): Promise<globalThis.FormData> {
    return consumeFormData(this.#body, rawGet(this.#headers, 'content-type')) as unknown as Promise<globalThis.FormData>;
  }

  clone(): Response {
    if (isUnusable(this.#body)) throw new TypeError("Failed to execute 'clone' on 'Response': Response body is already used");
    if (this.#webSocket !== null) throw new TypeError("Failed to execute 'clone' on 'Response': a response carrying a WebSocket cannot be cloned.");
    const r = new Response(INTERNAL as unknown as null);
    r.#status = this.#status;
    r.#statusText = this.#statusText;
    r.#type = this.#type;
    r.#headers = copyHeaders(this.#headers, this.#type === 'error');
    r.#body = this.#body === null ? null : cloneBody(this.#body);
    return r;
  }

  static {
    isResponse = (value): value is Response => typeof value === 'object' && value !== null && #status in value;
    responseHeaders = (r) => r.#headers;
    responseWebSocket = (r) => r.#webSocket;
    responseParts = (r) => {
      const state = r.#body;
      let body: ResponseParts['body'] = null;
      if (state !== null) {
        if (isUnusable(state)) throw new TypeError('The Response body has already been used.');
        const fast = takeFast(state);
        if (fast === null) body = state.stream;
        else body = typeof fast === 'string' ? utf8Encode(fast) : fast;
      }
      return { status: r.#status, statusText: r.#statusText, headers: copyArray(headerList(r.#headers)), body };
    };
  }
}
Object.defineProperty(Response.prototype, Symbol.toStringTag, { value: 'Response', configurable: true });

defineGlobal('Response', Response);
