// Headers, Request, Response and the seam dispatch.ts uses to hand a request
// to the worker and take its response apart.

import { defineGlobal, onWarm } from './define.ts';
import { Headers } from './headers.ts';
import { Request, incomingRequest } from './request.ts';
import { Response, isResponse as isOurResponse, responseParts as partsOf } from './response.ts';
import { bodyFromBytes, bodyFromStream } from './body.ts';
import { AbortSignal } from './abort.ts';

/**
 * Build the Request a worker receives. headers: flat [name, value, name, value, …] as sent by the
 * client. body: null (no body), a Uint8Array (whole body known), or a ReadableStream of Uint8Array chunks.
 * `url` must already be a valid absolute URL: it is stored, not parsed.
 */
export function createIncomingRequest(
  method: string,
  url: string,
  headers: string[],
  body: ReadableStream<Uint8Array> | Uint8Array | null,
  /** Called on the first access to request.signal; must return one of this isolate's AbortSignals. */
  signal: () => globalThis.AbortSignal,
): globalThis.Request {
  const state = body === null ? null : body instanceof Uint8Array ? bodyFromBytes(body) : bodyFromStream(body);
  return incomingRequest(method, url, headers, state, signal as unknown as () => AbortSignal) as unknown as globalThis.Request;
}

export function isResponse(value: unknown): value is globalThis.Response {
  return isOurResponse(value);
}

/**
 * Take a Response apart to send it (marks the body used). headers: flat [name, value, …] with
 * set-cookie values kept as separate entries. body: null, a Uint8Array when the body's bytes are
 * already known (string, bytes, JSON… — the fast path, no stream built), else the ReadableStream.
 */
export function responseParts(r: globalThis.Response): { status: number; statusText: string; headers: string[]; body: null | Uint8Array | ReadableStream<Uint8Array> } {
  if (!isOurResponse(r)) throw new TypeError('responseParts: not a Response');
  return partsOf(r);
}

defineGlobal('Headers', Headers);
defineGlobal('Request', Request);
defineGlobal('Response', Response);

// While the isolate waits in the pool, run the request path once so its
// functions are compiled and their inline caches warm before the first request.
onWarm(() => {
  const req = incomingRequest('GET', 'https://warm.invalid/', ['Host', 'warm.invalid', 'Accept', '*/*'], null, () => AbortSignal.abort());
  void req.headers.get('accept');
  const res = new Response('ok', { status: 200, headers: { 'content-type': 'text/plain' } });
  res.headers.set('x-warm', '1');
  partsOf(res);
  partsOf(Response.json({ warm: true }));
});

