// fetch() (Fetch §5.6): the request is built and its body read here, in the
// isolate; the network is the host's (runtime/host-ops/fetch.ts, on undici).
//
// Bodies cross the bridge one chunk per host call in both directions: a
// streamed request body is read only as fast as the host takes its chunks, and
// the Response body is a byte stream whose every pull asks the host for the
// next chunk, so neither is ever whole in this heap unless the worker asks.

import { defineGlobal } from './define.ts';
import { registerErrorFactory, requestCall } from './bridge.ts';
import { Request, requestParts, type RequestParts } from './request.ts';
import { Response, responseHeaders } from './response.ts';
import { freezeHeaders, headerList, rawGet } from './headers.ts';
import { connectForFetch, fetchUpgradeHeaders } from './websocket-seam.ts';
import { addAbortAlgorithm, signalAborted, signalReason } from './abort.ts';
import { drain, isReadableStream, streams, type Drain } from './streams.ts';
import { hostBody, type HostBody } from './host-body.ts';
import { bodyStream, consumeOwnBytes, type BodyState } from './body.ts';
import {
  arrayBufferByteLength,
  box,
  bytesOf,
  copyArray,
  copyBytes,
  ignoreRejection,
  isView,
  promiseThen,
  resolvedWith,
  stringIndexOf,
  stringSlice,
  stringToLowerCase,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
} from './intrinsics.ts';
import { markFetched } from './fetch-response.ts';
import type { FetchHead } from './fetch-wire.ts';
import { processDataUrl } from './data-url.ts';


// The subrequest limit is a plain Error in workerd, not a DOMException (the
// bridge's fallback for names it does not know).
registerErrorFactory('Error', (m) => new Error(m));

// Ids name this isolate's outbound fetches in the host's per-request table.
let nextId = 1;

/** A host call whose continuation runs as the request that made it (bridge.ts). */
const op = requestCall;

/** Send `payload` and forget it: the request is over or failed another way. */
function send(name: string, payload: unknown): void {
  ignoreRejection(op(name, payload));
}

function ignore(): void {}

// A chunk as its own compact Uint8Array: the bridge copies a view's whole
// underlying buffer, which may be far larger than the view.
function chunkBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) {
    return typedArrayByteOffset(value) === 0 && typedArrayByteLength(value) === arrayBufferByteLength(typedArrayBuffer(value) as ArrayBuffer) ? value : copyBytes(value);
  }
  if (isView(value)) return copyBytes(bytesOf(value));
  if (value instanceof ArrayBuffer) return copyBytes(new Uint8Array(value));
  throw new TypeError('fetch: the request body stream produced a chunk that is not a Uint8Array.');
}

type OutBody = { kind: 'none' } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'stream'; stream: ReadableStream<Uint8Array> };

/**
 * How the request body goes out, boxed. A body given in `init` as anything
 * but a stream is known bytes: sent whole, and re-sent if a 307/308 redirect
 * asks. Anything else (a stream, or the body of a Request object, which may
 * be one) is streamed chunk by chunk.
 */
function outgoingBody(body: BodyState | null, init: RequestInit | undefined): Promise<{ value: OutBody }> {
  const given: unknown = init?.body;
  if (given !== undefined && given !== null && !isReadableStream(given)) {
    return promiseThen(consumeOwnBytes(body), (b) => box({ value: { kind: 'bytes', bytes: b.value } as OutBody }));
  }
  const stream = bodyStream(body);
  return resolvedWith(box({ value: (stream === null ? { kind: 'none' } : { kind: 'stream', stream }) as OutBody }));
}

/** Send `stream` to the host one chunk at a time; each write waits until the host has taken the last. */
function upload(id: number, stream: ReadableStream<Uint8Array>): Drain {
  return drain(
    stream,
    (value) => {
      const bytes = chunkBytes(value);
      return typedArrayByteLength(bytes) > 0 ? promiseThen(op('fetch.write', { id, chunk: bytes }), ignore) : undefined;
    },
    (err) => {
      // Either the worker's stream failed (tell the host, which fails the
      // request) or the host stopped wanting the body (redirect to GET, abort).
      if (err === undefined) send('fetch.write', { id, chunk: null });
      else send('fetch.write', { id, error: err instanceof Error ? err.message : String(err) });
    },
  );
}

/**
 * Fetch "scheme fetch" for data: (any method): a 200 whose body and
 * Content-Type come from the URL, or a network error (TypeError) when the
 * URL is not a valid data: URL. Answered in the isolate; no host call.
 */
function fetchDataUrl(url: string): Promise<globalThis.Response> {
  const data = processDataUrl(url);
  if (data === null) return Promise.reject(new TypeError(`fetch: ${stringSlice(url, 0, 64)} is not a valid data: URL.`));
  const res = new Response(data.body, { status: 200, statusText: 'OK', headers: [['content-type', data.mimeType]] });
  freezeHeaders(responseHeaders(res));
  const hash = stringIndexOf(url, '#');
  return Promise.resolve(markFetched(res, hash < 0 ? url : stringSlice(url, 0, hash), false) as unknown as globalThis.Response);
}

function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<globalThis.Response> {
  let request: RequestParts;
  try {
    request = requestParts(new Request(input, init));
  } catch (err) {
    return Promise.reject(err);
  }
  const signal = request.signal;
  if (signalAborted(signal)) return Promise.reject(signalReason(signal));
  if (stringSlice(request.url, 0, 5) === 'data:') return fetchDataUrl(request.url);
  // Workers' client side of a WebSocket: the 101 response carries the socket (websocket.ts).
  const upgrade = rawGet(request.headers, 'upgrade');
  if (upgrade !== null && stringToLowerCase(upgrade) === 'websocket') {
    const headers = copyArray(headerList(request.headers));
    return new Promise<globalThis.Response>((resolve, reject) => {
      promiseThen(connectForFetch(request.url, headers), (ws) => resolve(new Response(null, box({ status: 101, webSocket: ws, headers: fetchUpgradeHeaders(ws) }) as ResponseInit) as unknown as globalThis.Response), reject);
    });
  }
  const id = nextId++;
  // The promise the worker gets is a plain one; everything below chains on the platform's own.
  return new Promise<globalThis.Response>((resolve, reject) => {
    let settled = false;
    let started = false;
    let uploading: Drain | undefined;
    let hostStream: HostBody | undefined;

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      removeAbort();
      reject(err);
    };

    // Fetch "abort fetch": reject with the signal's reason, error the body if
    // the response is already out, and stop the host's request.
    const removeAbort = addAbortAlgorithm(signal, () => {
      const reason = signalReason(signal);
      fail(reason);
      hostStream?.error(reason);
      uploading?.stop(reason);
      if (started) send('fetch.cancel', { id });
    });

    const begin = (body: OutBody): void => {
      if (settled) return;
      started = true;
      const payload = {
        id,
        url: request.url,
        method: request.method,
        headers: copyArray(headerList(request.headers)),
        body: body.kind === 'none' ? null : body.kind === 'bytes' ? body.bytes : 'stream',
        redirect: request.redirect,
      };
      promiseThen(op('fetch.start', payload), (head) => respond(head.value as FetchHead), fail);
      // After start: the host registers the upload synchronously in fetch.start.
      if (body.kind === 'stream') uploading = upload(id, body.stream);
    };

    const respond = (head: FetchHead): void => {
      if (settled) {
        // Aborted while the head was on its way: the host request is cancelled already.
        return;
      }
      let stream: ReadableStream<Uint8Array> | null = null;
      if (head.hasBody) {
        // No read-ahead: nothing is fetched until the worker reads.
        hostStream = hostBody(() => op('fetch.read', { id }), () => op('fetch.cancel', { id }), null, removeAbort);
        stream = hostStream.stream;
      }
      let res: Response;
      try {
        const pairs: [string, string][] = [];
        for (let i = 0; i + 1 < head.headers.length; i += 2) pairs[pairs.length] = [head.headers[i] as string, head.headers[i + 1] as string];
        res = new Response(stream, { status: head.status, statusText: head.statusText, headers: pairs });
      } catch (err) {
        send('fetch.cancel', { id });
        fail(new TypeError(`fetch to ${head.url}: the response cannot be represented (${err instanceof Error ? err.message : String(err)})`));
        return;
      }
      // As in workerd, a fetched response's headers are immutable; `new Response(res.body, res)` makes a mutable copy.
      freezeHeaders(responseHeaders(res));
      settled = true;
      if (!head.hasBody) removeAbort();
      resolve(markFetched(res, head.url, head.redirected) as unknown as globalThis.Response);
    };

    promiseThen(outgoingBody(request.body, init), (b) => begin(b.value), fail);
  });
}

defineGlobal('fetch', fetch);

/** fetch() for the platform's own use (EventSource): the global is the worker's to replace. */
export { fetch as platformFetch };
