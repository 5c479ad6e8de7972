// The Cache API as Cloudflare Workers has it (not the Service Worker one):
// `caches.default`, `caches.open(name)`, and on a Cache only match, put and
// delete. Entries live on the node (runtime/host-ops/cache.ts); this file
// checks the arguments as workerd does, and streams bodies through the bridge
// one chunk per host call, so a large body is never whole in this heap.
//
// `caches` is a lazy global: an isolate that never touches it builds nothing.

import { defineGlobal, defineLazyGlobal } from './define.ts';
import { requestCall, type HostResult } from './bridge.ts';
import { Request, requestParts } from './request.ts';
import { isResponse, Response, responseHeaders, responseParts } from './response.ts';
import { freezeHeaders, headerList, rawGet } from './headers.ts';
import { drain, streams } from './streams.ts';
import { hostBody } from './host-body.ts';
import {
  arrayBufferByteLength,
  bytesOf,
  copyArray,
  copyBytes,
  ignoreRejection,
  isView,
  promiseThen,
  stringIndexOf,
  stringSlice,
  stringToLowerCase,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
} from './intrinsics.ts';

const INTERNAL = Symbol('internal');

interface MatchHead {
  status: number;
  statusText: string;
  headers: string[];
  body: Uint8Array | null;
  /** Read id when more chunks follow the first; 0 when `body` is all of it. */
  read: number;
}

interface CacheQueryOptions {
  ignoreMethod?: boolean;
}

function ignore(): void {}

/** The cache key: the request's URL without its fragment. */
function keyUrl(url: string): string {
  const hash = stringIndexOf(url, '#');
  return hash < 0 ? url : stringSlice(url, 0, hash);
}

function toRequest(input: unknown, what: string): ReturnType<typeof requestParts> {
  if (input instanceof Request) return requestParts(input);
  if (typeof input !== 'string' && !(input instanceof URL)) throw new TypeError(`Failed to execute '${what}' on 'Cache': parameter 1 is not of type 'Request' or a URL string.`);
  return requestParts(new Request(input as string));
}

function chunkBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) {
    return typedArrayByteOffset(value) === 0 && typedArrayByteLength(value) === arrayBufferByteLength(typedArrayBuffer(value) as ArrayBuffer) ? value : copyBytes(value);
  }
  if (isView(value)) return copyBytes(bytesOf(value));
  throw new TypeError('Cache.put(): the response body stream produced a chunk that is not a Uint8Array.');
}

/** The Response a hit becomes: headers immutable, as on a fetched response; the body streamed in from the host. */
function hitResponse(head: MatchHead): Response {
  let body: ReadableStream<Uint8Array> | Uint8Array | null = head.body;
  if (head.read !== 0) {
    const id = head.read;
    body = hostBody(() => requestCall('cache.read', { id }), () => requestCall('cache.cancel', { id }), head.body).stream;
  }
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < head.headers.length; i += 2) pairs[pairs.length] = [head.headers[i] as string, head.headers[i + 1] as string];
  const res = new Response(head.status === 304 ? null : (body as BodyInit | null), { status: head.status, statusText: head.statusText, headers: pairs });
  freezeHeaders(responseHeaders(res));
  return res;
}

/** Stream `stream` into put `id`; resolves once the host has committed it. */
function upload(id: number, stream: ReadableStream<Uint8Array>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    drain(
      stream,
      (value) => {
        const bytes = chunkBytes(value);
        return typedArrayByteLength(bytes) > 0 ? promiseThen(requestCall('cache.write', { id, chunk: bytes }), ignore) : undefined;
      },
      (err) => {
        if (err !== undefined) {
          ignoreRejection(requestCall('cache.abort', { id }));
          reject(err);
          return;
        }
        promiseThen(requestCall('cache.write', { id, chunk: null }), () => resolve(), reject);
      },
    );
  });
}

// Set by Cache's static block: only the platform makes Caches.
let makeCache: (name: string | null) => Cache;

class Cache {
  #name: string | null = null;

  constructor(token?: unknown) {
    if (token !== INTERNAL) throw new TypeError('Illegal constructor');
  }

  match(request: RequestInfo | URL, options?: CacheQueryOptions): Promise<Response | undefined> {
    const name = this.#name;
    return new Promise<Response | undefined>((resolve, reject) => {
      const req = toRequest(request, 'match');
      if (req.method !== 'GET' && options?.ignoreMethod !== true) {
        resolve(undefined);
        return;
      }
      const payload = { cache: name, url: keyUrl(req.url), headers: copyArray(headerList(req.headers)) };
      promiseThen(
        requestCall('cache.match', payload),
        (result: HostResult) => resolve(result.value === null ? undefined : hitResponse(result.value as MatchHead)),
        reject,
      );
    });
  }

  put(request: RequestInfo | URL, response: Response): Promise<undefined> {
    const name = this.#name;
    return new Promise<undefined>((resolve, reject) => {
      const req = toRequest(request, 'put');
      if (!isResponse(response)) throw new TypeError("Failed to execute 'put' on 'Cache': parameter 2 is not of type 'Response'.");
      if (req.method !== 'GET') throw new TypeError('Cannot cache response to non-GET request.');
      if (response.status === 206) throw new TypeError('Cannot cache response to a range request (206 Partial Content).');
      const vary = rawGet(responseHeaders(response), 'vary');
      if (vary !== null) {
        const names = vary.split(',');
        for (let i = 0; i < names.length; i++) if (stringToLowerCase((names[i] as string).trim()) === '*') throw new TypeError("Cannot cache response with 'Vary: *' header.");
      }
      // Marks the body used, as a put does in workerd; throws if it already was.
      const parts = responseParts(response);
      const stream = parts.body instanceof Uint8Array || parts.body === null ? null : parts.body;
      const payload = {
        cache: name,
        url: keyUrl(req.url),
        headers: copyArray(headerList(req.headers)),
        status: parts.status,
        statusText: parts.statusText,
        resHeaders: parts.headers,
        body: stream === null ? parts.body : 'stream',
      };
      promiseThen(
        requestCall('cache.put', payload),
        (result: HostResult) => {
          const started = result.value as { id: number } | null;
          if (stream === null) {
            resolve(undefined);
            return;
          }
          if (started === null) {
            // Not stored (Cache-Control, Set-Cookie): the body is consumed all the same.
            drain(stream, () => undefined, ignore).stop(undefined);
            resolve(undefined);
            return;
          }
          promiseThen(upload(started.id, stream), () => resolve(undefined), reject);
        },
        reject,
      );
    });
  }

  delete(request: RequestInfo | URL, options?: CacheQueryOptions): Promise<boolean> {
    const name = this.#name;
    return new Promise<boolean>((resolve, reject) => {
      const req = toRequest(request, 'delete');
      if (req.method !== 'GET' && options?.ignoreMethod !== true) {
        resolve(false);
        return;
      }
      promiseThen(requestCall('cache.delete', { cache: name, url: keyUrl(req.url) }), (result: HostResult) => resolve(result.value === true), reject);
    });
  }

  static {
    makeCache = (name) => {
      const c = new Cache(INTERNAL);
      c.#name = name;
      return c;
    };
  }
}
Object.defineProperty(Cache.prototype, Symbol.toStringTag, { value: 'Cache', configurable: true });

class CacheStorage {
  #default: Cache | undefined;

  constructor(token?: unknown) {
    if (token !== INTERNAL) throw new TypeError('Illegal constructor');
  }

  /** The function's default cache (not the same as `open('default')`, as in workerd). */
  get default(): Cache {
    return (this.#default ??= makeCache(null));
  }

  open(cacheName: string): Promise<Cache> {
    if (arguments.length < 1) return Promise.reject(new TypeError("Failed to execute 'open' on 'CacheStorage': 1 argument required, but only 0 present."));
    const name = String(cacheName);
    // workerd's limit on a cache name.
    if (name.length > 1024) return Promise.reject(new TypeError('Cache name is too long.'));
    return Promise.resolve(makeCache(name));
  }
}
Object.defineProperty(CacheStorage.prototype, Symbol.toStringTag, { value: 'CacheStorage', configurable: true });

defineGlobal('Cache', Cache);
defineGlobal('CacheStorage', CacheStorage);
defineLazyGlobal('caches', () => new CacheStorage(INTERNAL));
