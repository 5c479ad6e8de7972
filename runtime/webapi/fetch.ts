// fetch() (Fetch §5.6): the request is built and its body read here, in the
// isolate; the network is the host's (runtime/host-ops/fetch.ts, on undici).
//
// Bodies cross the bridge one chunk per host call in both directions: a
// streamed request body is read only as fast as the host takes its chunks, and
// the Response body is a byte stream whose every pull asks the host for the
// next chunk, so neither is ever whole in this heap unless the worker asks.

import { defineGlobal } from './define.ts';
import { getCurrentRequest, hostCall, registerErrorFactory, setCurrentRequest } from './bridge.ts';
import { Request } from './request.ts';
import { Response } from './response.ts';
import { freezeHeaders, headerList } from './headers.ts';
import { AbortSignal, addAbortAlgorithm } from './abort.ts';
import { isReadableStream, streams } from './streams.ts';
import { markFetched } from './fetch-response.ts';
import type { FetchHead } from './fetch-wire.ts';
import { processDataUrl } from './data-url.ts';


// The subrequest limit is a plain Error in workerd, not a DOMException (the
// bridge's fallback for names it does not know).
registerErrorFactory('Error', (m) => new Error(m));

// Ids name this isolate's outbound fetches in the host's per-request table.
let nextId = 1;

/**
 * A host call whose continuation runs as the request that made it. The settle
 * entry is charged to that request by the host, but the isolate's notion of
 * the current request (which timers use) is whatever ran last, so it is put
 * back before the caller's code resumes.
 */
function op(name: string, payload: unknown): Promise<unknown> {
  const request = getCurrentRequest();
  return hostCall(name, payload).then(
    (value) => {
      setCurrentRequest(request);
      return value;
    },
    (err: unknown) => {
      setCurrentRequest(request);
      throw err;
    },
  );
}

function ignore(): void {}

// A chunk as its own compact Uint8Array: the bridge copies a view's whole
// underlying buffer, which may be far larger than the view.
function chunkBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) {
    return value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
  }
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  throw new TypeError('fetch: the request body stream produced a chunk that is not a Uint8Array.');
}

type OutBody = { kind: 'none' } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'stream'; stream: ReadableStream<Uint8Array> };

/**
 * How the request body goes out. A body given in `init` as anything but a
 * stream is known bytes: sent whole, and re-sent if a 307/308 redirect asks.
 * Anything else (a stream, or the body of a Request object, which may be one)
 * is streamed chunk by chunk.
 */
async function outgoingBody(request: Request, init: RequestInit | undefined): Promise<OutBody> {
  const given: unknown = init?.body;
  if (given !== undefined && given !== null && !isReadableStream(given)) return { kind: 'bytes', bytes: await request.bytes() };
  const stream = request.body;
  return stream === null ? { kind: 'none' } : { kind: 'stream', stream };
}

/** Send `stream` to the host one chunk at a time; each write waits until the host has taken the last. */
async function upload(id: number, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        await op('fetch.write', { id, chunk: null });
        return;
      }
      const bytes = chunkBytes(value);
      if (bytes.byteLength > 0) await op('fetch.write', { id, chunk: bytes });
    }
  } catch (err) {
    // Either the worker's stream failed (tell the host, which fails the
    // request) or the host stopped wanting the body (redirect to GET, abort).
    reader.cancel(err).catch(ignore);
    op('fetch.write', { id, error: err instanceof Error ? err.message : String(err) }).catch(ignore);
  }
}

/**
 * Fetch "scheme fetch" for data: (any method): a 200 whose body and
 * Content-Type come from the URL, or a network error (TypeError) when the
 * URL is not a valid data: URL. Answered in the isolate; no host call.
 */
function fetchDataUrl(request: Request): Promise<globalThis.Response> {
  const data = processDataUrl(request.url);
  if (data === null) return Promise.reject(new TypeError(`fetch: ${request.url.slice(0, 64)} is not a valid data: URL.`));
  const res = new Response(data.body, { status: 200, statusText: 'OK', headers: [['content-type', data.mimeType]] });
  freezeHeaders(res.headers);
  const hash = request.url.indexOf('#');
  return Promise.resolve(markFetched(res, hash < 0 ? request.url : request.url.slice(0, hash), false) as unknown as globalThis.Response);
}

function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<globalThis.Response> {
  let request: Request;
  try {
    request = new Request(input, init);
  } catch (err) {
    return Promise.reject(err);
  }
  const signal = request.signal as unknown as AbortSignal;
  if (signal.aborted) return Promise.reject(signal.reason);
  if (request.url.startsWith('data:')) return fetchDataUrl(request);
  const id = nextId++;
  return new Promise<globalThis.Response>((resolve, reject) => {
    let settled = false;
    let started = false;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let bodyController: ReadableByteStreamController | undefined;
    let bodyOpen = false;

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      removeAbort();
      reject(err);
    };

    // Fetch "abort fetch": reject with the signal's reason, error the body if
    // the response is already out, and stop the host's request.
    const removeAbort = addAbortAlgorithm(signal, () => {
      const reason = signal.reason;
      fail(reason);
      if (bodyOpen && bodyController !== undefined) {
        bodyOpen = false;
        try {
          bodyController.error(reason);
        } catch {
          // already closed
        }
      }
      reader?.cancel(reason).catch(ignore);
      if (started) op('fetch.cancel', { id }).catch(ignore);
    });

    const begin = (body: OutBody): void => {
      if (settled) return;
      started = true;
      const payload = {
        id,
        url: request.url,
        method: request.method,
        headers: headerList(request.headers).slice(),
        body: body.kind === 'none' ? null : body.kind === 'bytes' ? body.bytes : 'stream',
        redirect: request.redirect,
      };
      op('fetch.start', payload).then((head) => respond(head as FetchHead), fail);
      // After start: the host registers the upload synchronously in fetch.start.
      if (body.kind === 'stream') {
        reader = body.stream.getReader();
        void upload(id, reader);
      }
    };

    const respond = (head: FetchHead): void => {
      if (settled) {
        // Aborted while the head was on its way: the host request is cancelled already.
        return;
      }
      let stream: ReadableStream<Uint8Array> | null = null;
      if (head.hasBody) {
        bodyOpen = true;
        const done = (): void => {
          bodyOpen = false;
          removeAbort();
        };
        stream = new (streams().ReadableStream)({
          type: 'bytes',
          start(c: ReadableByteStreamController) {
            bodyController = c;
          },
          // No highWaterMark: nothing is fetched until the worker reads.
          pull(c: ReadableByteStreamController) {
            return op('fetch.read', { id }).then(
              (chunk) => {
                if (!bodyOpen) return;
                if (chunk === null) {
                  done();
                  c.close();
                  // A pending BYOB read must be answered after close (Streams §4.10.11).
                  c.byobRequest?.respond(0);
                } else {
                  c.enqueue(chunk as Uint8Array<ArrayBuffer>);
                }
              },
              (err: unknown) => {
                if (!bodyOpen) return;
                done();
                c.error(err);
              },
            );
          },
          cancel() {
            done();
            return op('fetch.cancel', { id }).then(ignore, ignore);
          },
        }) as ReadableStream<Uint8Array>;
      }
      let res: Response;
      try {
        const pairs: [string, string][] = [];
        for (let i = 0; i + 1 < head.headers.length; i += 2) pairs.push([head.headers[i] as string, head.headers[i + 1] as string]);
        res = new Response(stream, { status: head.status, statusText: head.statusText, headers: pairs });
      } catch (err) {
        op('fetch.cancel', { id }).catch(ignore);
        fail(new TypeError(`fetch to ${head.url}: the response cannot be represented (${err instanceof Error ? err.message : String(err)})`));
        return;
      }
      // As in workerd, a fetched response's headers are immutable; `new Response(res.body, res)` makes a mutable copy.
      freezeHeaders(res.headers);
      settled = true;
      if (!head.hasBody) removeAbort();
      resolve(markFetched(res, head.url, head.redirected) as unknown as globalThis.Response);
    };

    outgoingBody(request, init).then(begin, fail);
  });
}

defineGlobal('fetch', fetch);
