// Request (Fetch §5.4). A request the host delivers is built by
// `incomingRequest` without parsing its URL or building its Headers until the
// worker asks: the host has already validated both.

import { defineGlobal } from './define.ts';
import { Headers, copyHeaders, headersFromFlat, rawGet, setIfAbsent } from './headers.ts';
import { AbortSignal, createDependentSignal, createSignal } from './abort.ts';
import type { Blob } from './blob.ts';
import type { FormData } from './form-data.ts';
import {
  type BodyState,
  bodyFromBytes,
  bodyFromStream,
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
} from './body.ts';
import { parseAbsoluteURL } from './url.ts';
import { hasOwn } from './intrinsics.ts';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NORMALIZED_METHODS: Record<string, string> = { delete: 'DELETE', get: 'GET', head: 'HEAD', options: 'OPTIONS', post: 'POST', put: 'PUT' };
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const REDIRECTS = new Set(['follow', 'error', 'manual']);

function normalizeMethod(m: unknown): string {
  const s = String(m);
  if (!TOKEN.test(s)) throw new TypeError(`'${s}' is not a valid HTTP method.`);
  const upper = s.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`'${s}' HTTP method is unsupported.`);
  // Fetch normalizes only these six; "patch" stays lower-case, as in browsers.
  // An own-property check: a method named "constructor" or "toString" must not find Object.prototype's.
  const lower = s.toLowerCase();
  return hasOwn(NORMALIZED_METHODS, lower) ? (NORMALIZED_METHODS[lower] as string) : s;
}

const INTERNAL = Symbol('internal');

/** What fetch() sends, read from the private fields (the getters are a tenant's to redefine). */
export interface RequestParts {
  url: string;
  method: string;
  redirect: RequestRedirect;
  headers: Headers;
  signal: AbortSignal;
  body: BodyState | null;
}
export let requestParts: (r: Request) => RequestParts;

/** Build the Request the worker receives; see fetch-api.ts. */
export let incomingRequest: (method: string, url: string, headers: string[], body: BodyState | null, signal: () => AbortSignal) => Request;

export class Request implements globalThis.Request {
  #method = 'GET';
  #url = '';
  #headers: Headers | null = null;
  // Host-supplied header list, turned into Headers on first access.
  #rawHeaders: string[] | null = null;
  #signal: AbortSignal | null = null;
  // An incoming request's signal is made on first access: most workers never
  // touch it, and an AbortController costs ~2 µs of every request.
  #signalSource: (() => AbortSignal) | null = null;
  #redirect: RequestRedirect = 'follow';
  #body: BodyState | null = null;

  constructor(input: RequestInfo | URL, init?: RequestInit) {
    if ((input as unknown) === INTERNAL) return;
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
    if (init !== undefined && init !== null && typeof init !== 'object') throw new TypeError("Failed to construct 'Request': The provided value is not of type 'RequestInit'.");
    const opts: RequestInit = init ?? {};
    let source: Request | null = null;
    if (input instanceof Request) {
      source = input;
      this.#url = input.#url;
      this.#method = input.#method;
      this.#redirect = input.#redirect;
    } else {
      const s = String(input);
      const parsed = parseAbsoluteURL(s);
      if (parsed === null) throw new TypeError(`Failed to construct 'Request': Invalid URL "${s}".`);
      if (parsed.username !== '' || parsed.password !== '') {
        throw new TypeError(`Failed to construct 'Request': Request cannot be constructed from a URL that includes credentials: ${s}`);
      }
      this.#url = parsed.href;
    }
    if (opts.method !== undefined) this.#method = normalizeMethod(opts.method);
    if (opts.redirect !== undefined) {
      if (!REDIRECTS.has(opts.redirect)) throw new TypeError(`Failed to construct 'Request': '${String(opts.redirect)}' is not a valid value for enumeration RequestRedirect.`);
      this.#redirect = opts.redirect;
    }
    // Signal: follow init.signal, else the input request's (Fetch: "dependent abort signal").
    const parentSignal = opts.signal !== undefined ? opts.signal : source !== null ? (source.signal as unknown as AbortSignal) : null;
    if (parentSignal !== null && parentSignal !== undefined) {
      if (!(parentSignal instanceof AbortSignal)) throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
      this.#signal = createDependentSignal([parentSignal]);
    }
    if (opts.headers !== undefined) this.#headers = new Headers(opts.headers);
    else if (source !== null) this.#headers = copyHeaders(source.headers as Headers, false);
    else this.#headers = new Headers();

    const initBody = opts.body;
    const hasInitBody = initBody !== undefined && initBody !== null;
    if ((hasInitBody || (source !== null && source.#body !== null && initBody === undefined)) && (this.#method === 'GET' || this.#method === 'HEAD')) {
      throw new TypeError("Failed to construct 'Request': Request with GET/HEAD method cannot have body.");
    }
    if (hasInitBody) {
      const { state, type } = extractBody(initBody);
      this.#body = state;
      if (type !== null) setIfAbsent(this.#headers, 'content-type', type);
    } else if (source !== null && source.#body !== null && initBody === undefined) {
      // The new request takes the input's body over; the input is left used
      // (Fetch: the input body is proxied, which disturbs it).
      if (isUnusable(source.#body)) throw new TypeError("Failed to construct 'Request': Cannot construct a Request with a Request object that has already been used.");
      this.#body = source.#body;
      const spent = bodyFromBytes(new Uint8Array(0));
      spent.used = true;
      source.#body = spent;
    }
  }

  get method(): string {
    return this.#method;
  }

  get url(): string {
    return this.#url;
  }

  get headers(): Headers {
    if (this.#headers === null) {
      // Incoming headers are immutable, as in workerd: a worker that wants to
      // change them builds a new Request.
      this.#headers = headersFromFlat(this.#rawHeaders ?? [], true);
      this.#rawHeaders = null;
    }
    return this.#headers;
  }

  // Our classes carry #private fields, which TypeScript treats as nominal, so
  // the members the DOM's Request interface types with DOM classes return those.
  get signal(): globalThis.AbortSignal {
    if (this.#signal === null && this.#signalSource !== null) this.#signal = this.#signalSource();
    this.#signal ??= createSignal();
    return this.#signal as unknown as globalThis.AbortSignal;
  }

  get redirect(): RequestRedirect {
    return this.#redirect;
  }

  // Fixed values: a worker's requests have no document, cache or CORS mode to vary them.
  get cache(): RequestCache {
    return 'default';
  }
  get credentials(): RequestCredentials {
    return 'same-origin';
  }
  get destination(): RequestDestination {
    return '';
  }
  get integrity(): string {
    return '';
  }
  get keepalive(): boolean {
    return false;
  }
  get mode(): RequestMode {
    return 'cors';
  }
  get referrer(): string {
    return 'about:client';
  }
  get referrerPolicy(): ReferrerPolicy {
    return '';
  }
  get duplex(): 'half' {
    return 'half';
  }

  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    return bodyStream(this.#body) as ReadableStream<Uint8Array<ArrayBuffer>> | null;
  }

  get bodyUsed(): boolean {
    return isUsed(this.#body);
  }

  #contentType(): string | null {
    return this.#headers === null ? contentTypeOfRaw(this.#rawHeaders) : rawGet(this.#headers, 'content-type');
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
    return consumeBlob(this.#body, this.#contentType());
  }
  formData(): Promise<globalThis.FormData> {
    return consumeFormData(this.#body, this.#contentType()) as unknown as Promise<globalThis.FormData>;
  }

  clone(): Request {
    if (isUnusable(this.#body)) throw new TypeError("Failed to execute 'clone' on 'Request': Request body is already used");
    const r = new Request(INTERNAL as unknown as string);
    r.#method = this.#method;
    r.#url = this.#url;
    r.#redirect = this.#redirect;
    r.#headers = this.#headers === null ? null : copyHeaders(this.#headers, false);
    r.#rawHeaders = this.#rawHeaders;
    const own = this.signal as unknown as AbortSignal;
    r.#signal = createDependentSignal([own]);
    r.#body = this.#body === null ? null : cloneBody(this.#body);
    return r;
  }

  static {
    requestParts = (r) => {
      if (r.#headers === null) {
        r.#headers = headersFromFlat(r.#rawHeaders ?? [], true);
        r.#rawHeaders = null;
      }
      if (r.#signal === null && r.#signalSource !== null) r.#signal = r.#signalSource();
      r.#signal ??= createSignal();
      return { url: r.#url, method: r.#method, redirect: r.#redirect, headers: r.#headers, signal: r.#signal, body: r.#body };
    };
    incomingRequest = (method, url, headers, body, signal) => {
      const r = new Request(INTERNAL as unknown as string);
      r.#method = method;
      r.#url = url;
      r.#rawHeaders = headers;
      r.#signalSource = signal;
      r.#body = body;
      return r;
    };
  }
}
Object.defineProperty(Request.prototype, Symbol.toStringTag, { value: 'Request', configurable: true });

function contentTypeOfRaw(raw: string[] | null): string | null {
  if (raw === null) return null;
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'content-type') return raw[i + 1] as string;
  return null;
}

export { bodyFromStream };

defineGlobal('Request', Request);
