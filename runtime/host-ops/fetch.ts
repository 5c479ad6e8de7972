// Outbound fetch, host side: the ops runtime/webapi/fetch.ts calls.
//
//   fetch.start  {id, url, method, headers, body, redirect} → the response head,
//                after following redirects; the body stays here, unread
//   fetch.write  {id, chunk | error}  one chunk of a streamed request body;
//                resolves when the upload has taken it (that is the backpressure)
//   fetch.read   {id} → the next response-body chunk, or null at the end
//   fetch.cancel {id}  the worker aborted or stopped reading
//
// Every outbound fetch belongs to the request that started it (ctx.request),
// and dies with it: ctx.signal aborts the undici request when the incoming
// request ends, so nothing outlives the budget that pays for it. Bodies move
// one chunk per call in both directions, so neither a large upload nor a large
// download is ever whole in memory.

import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';
import type { Readable } from 'node:stream';
import { AllowList, ERR_FETCH_REFUSED, checkLiteral, guardedConnector } from './fetch-guard.ts';
import { FetchUpload } from './fetch-upload.ts';
import type { HostOp, OpContext } from './types.ts';

export interface FetchOptions {
  /** Outbound requests (every redirect hop counts) one incoming request may make. Default 50. */
  subrequests?: number | undefined;
  /** Milliseconds to wait for a response head (across redirects, connect included), then for each body chunk. Default 30000. */
  timeoutMs?: number | undefined;
  /** Host names (`*.example.com` for subdomains), IPs and CIDRs exempt from SSRF protection. Default none. */
  allow?: readonly string[] | undefined;
  /** Resolves destination names; the default is dns.lookup. Tests inject one to fake DNS answers. */
  lookup?: LookupFunction | undefined;
}

export const FETCH_DEFAULTS = { subrequests: 50, timeoutMs: 30_000 } as const;

const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
// Hop-by-hop and connection-level headers (RFC 9110 §7.6.1): they describe the
// worker's own connection, not the outbound one. Host comes from the URL, as in
// workerd, so a reverse proxy can forward incoming headers unchanged.
const DROPPED_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'expect']);
// Fetch "request-body-header name": dropped when a redirect turns the request into a GET.
const BODY_HEADERS = new Set(['content-encoding', 'content-language', 'content-location', 'content-type', 'content-length']);
// Credentials for the old origin. Fetch drops Authorization on a cross-origin
// redirect; undici also drops Cookie and Proxy-Authorization, and so do we.
const CROSS_ORIGIN_DROPPED = new Set(['authorization', 'cookie', 'proxy-authorization']);

type RedirectMode = 'follow' | 'manual' | 'error';

interface StartPayload {
  id: number;
  url: string;
  method: string;
  headers: string[];
  /** Bytes sent whole (and re-sent on 307/308), null for none, 'stream' when fetch.write chunks follow. */
  body: Uint8Array | null | 'stream';
  redirect: RedirectMode;
}

import type { FetchHead } from '../webapi/fetch-wire.ts';

/** One outbound fetch's host state, kept in the request's op map until its body ends. */
class Outbound {
  readonly abort = new AbortController();
  upload: FetchUpload | undefined;
  body: Readable | undefined;
  iter: AsyncIterator<Buffer> | undefined;
  /** Where the body comes from, for error messages. */
  url = '';
  #unlink: (() => void) | undefined;

  link(request: AbortSignal | undefined): void {
    if (request === undefined) return;
    if (request.aborted) {
      this.abort.abort(request.reason);
      return;
    }
    const onAbort = (): void => this.destroy(request.reason);
    request.addEventListener('abort', onAbort, { once: true });
    this.#unlink = () => request.removeEventListener('abort', onAbort);
  }

  /** Stop everything now; idempotent. */
  destroy(reason?: unknown): void {
    this.#unlink?.();
    this.#unlink = undefined;
    if (!this.abort.signal.aborted) this.abort.abort(reason);
    this.upload?.close(new TypeError('fetch: the request was cancelled'));
    this.body?.destroy();
  }
}

/** The subrequest budget is spent: a plain Error in the worker, as workerd throws. */
class SubrequestLimitError extends Error {
  readonly code = 'ERR_FETCH_SUBREQUESTS';
}

function namedError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

function hasCode(err: unknown, code: string): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === code) return true;
    if (e instanceof AggregateError && e.errors.some((x) => hasCode(x, code))) return true;
  }
  return false;
}

function findRefusal(err: unknown): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === ERR_FETCH_REFUSED) return e;
    if (e instanceof AggregateError) for (const x of e.errors) if (hasCode(x, ERR_FETCH_REFUSED)) return findRefusal(x);
  }
  return undefined;
}

/**
 * The one seam where undici's and the network's failures become what the
 * worker sees: a TypeError (Fetch's "network error"), or a TimeoutError
 * DOMException for our timeout, with a message that names the destination.
 */
function toWorkerError(err: unknown, out: Outbound, timeoutMs: number, phase: 'head' | 'body'): Error {
  const reason: unknown = out.abort.signal.aborted ? out.abort.signal.reason : undefined;
  if (reason instanceof Error && reason.name === 'TimeoutError') return reason;
  if (err instanceof SubrequestLimitError) return err;
  const refused = findRefusal(err);
  if (refused !== undefined) return new TypeError(refused.message);
  if (err instanceof TypeError || (err instanceof Error && err.name === 'TypeError')) return new TypeError(err.message);
  const where = phase === 'head' ? `fetch to ${out.url} failed` : `reading the response body of ${out.url} failed`;
  if (hasCode(err, 'UND_ERR_HEADERS_TIMEOUT') || hasCode(err, 'UND_ERR_BODY_TIMEOUT')) {
    return namedError('TimeoutError', `${where}: no data for ${timeoutMs} ms (fetch timeout)`);
  }
  if (reason !== undefined) return namedError('AbortError', `${where}: the request was aborted`);
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new TypeError(`${where}: ${typeof code === 'string' ? `${code} ` : ''}${message}`);
}

// Response headers that describe the origin's connection, not the response (RFC 9110 §7.6.1).
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'trailer', 'upgrade']);

function flattenHeaders(h: Record<string, string | string[] | undefined>): string[] {
  const flat: string[] = [];
  for (const [name, value] of Object.entries(h)) {
    if (value === undefined || RESPONSE_HOP_BY_HOP.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else flat.push(name, value);
  }
  return flat;
}

function firstHeader(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Headers as the outbound request sends them: worker's order, connection-level ones dropped. */
function outboundHeaders(flat: string[], body: StartPayload['body']): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    if (DROPPED_HEADERS.has(name)) continue;
    // undici computes the length of a body it is given whole; a stale one from
    // a forwarded request would make it refuse the request.
    if (name === 'content-length' && body !== 'stream') continue;
    out.push(name, flat[i + 1] as string);
  }
  return out;
}

function withoutHeaders(flat: string[], drop: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) if (!drop.has(flat[i] as string)) out.push(flat[i] as string, flat[i + 1] as string);
  return out;
}

function parseStart(payload: unknown): StartPayload {
  const p = payload as Partial<StartPayload> | null;
  if (p === null || typeof p !== 'object' || typeof p.id !== 'number' || typeof p.url !== 'string' || typeof p.method !== 'string' || !Array.isArray(p.headers)) {
    throw new TypeError('fetch.start: malformed payload');
  }
  const body = p.body === 'stream' || p.body === null || p.body instanceof Uint8Array ? p.body : null;
  const redirect = p.redirect === 'manual' || p.redirect === 'error' ? p.redirect : 'follow';
  return { id: p.id, url: p.url, method: p.method, headers: p.headers.map(String), body, redirect };
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`fetch.${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** Build the fetch ops for one runtime; options are validated here, at construction. */
export function createFetchOps(options: FetchOptions = {}): Record<string, HostOp> {
  const subrequests = positiveInt('subrequests', options.subrequests, FETCH_DEFAULTS.subrequests);
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs, FETCH_DEFAULTS.timeoutMs);
  const allow = new AllowList(options.allow ?? []);
  let agent: Agent | undefined;
  const dispatcher = (): Agent =>
    (agent ??= new Agent({
      connect: guardedConnector(allow, timeoutMs, options.lookup),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    }));

  const requestState = (ctx: OpContext): Map<string, unknown> => {
    const m = ctx.request;
    if (m === undefined) throw new Error('fetch() can only be called while handling a request, not at the top level of a worker script.');
    return m;
  };

  const outbound = (ctx: OpContext, payload: unknown): Outbound => {
    const id = (payload as { id?: unknown } | null)?.id;
    const out = typeof id === 'number' ? ctx.request?.get(`fetch:${id}`) : undefined;
    // As in workerd, a fetch's body can only be used by the request that made
    // it: its host state, and the budget that pays for it, belong to that request.
    if (!(out instanceof Outbound)) throw new TypeError('This fetch belongs to another request (or has ended): I/O objects cannot be shared between requests.');
    return out;
  };

  const countSubrequest = (state: Map<string, unknown>): void => {
    const n = ((state.get('fetch:count') as number | undefined) ?? 0) + 1;
    if (n > subrequests) {
      throw new SubrequestLimitError(`Too many subrequests (limit ${subrequests}): a request may make at most ${subrequests} outbound fetches, redirects included. Raise it with EDGEFN_FETCH_SUBREQUESTS.`);
    }
    state.set('fetch:count', n);
  };

  const start: HostOp = async (payload, ctx) => {
    const state = requestState(ctx);
    const p = parseStart(payload);
    const key = `fetch:${p.id}`;
    if (state.has(key)) throw new TypeError('fetch.start: id in use');
    const out = new Outbound();
    // Registered before the first await: the isolate's first fetch.write is
    // issued in the same entry and must find the upload.
    state.set(key, out);
    if (p.body === 'stream') out.upload = new FetchUpload();
    out.link(ctx.signal);
    const timer = setTimeout(() => out.abort.abort(namedError('TimeoutError', `fetch to ${out.url} timed out after ${timeoutMs} ms without a response (fetch timeout)`)), timeoutMs);
    let url: URL;
    let method = p.method;
    let headers = outboundHeaders(p.headers, p.body);
    let body = p.body;
    let hops = 0;
    try {
      try {
        url = new URL(p.url);
      } catch {
        throw new TypeError(`fetch: invalid URL "${p.url}"`);
      }
      for (;;) {
        out.url = url.href;
        countSubrequest(state);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`fetch: the URL scheme "${url.protocol.slice(0, -1)}" is not supported; only http and https are.`);
        // Literal IPs are refused here, before any connection attempt; the
        // connector checks them again and checks every resolved name.
        const refused = checkLiteral(url.hostname, allow);
        if (refused !== undefined) throw refused;
        if (out.abort.signal.aborted) throw out.abort.signal.reason;
        const res = await dispatcher().request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method,
          headers,
          // undici sends any AsyncIterable as a chunked body (its docs say so;
          // its type declaration lists only Readable).
          body: body === 'stream' ? (out.upload as unknown as Readable) : body,
          signal: out.abort.signal,
        });
        const location = firstHeader(res.headers, 'location');
        if (!REDIRECT_STATUSES.has(res.statusCode) || location === undefined || p.redirect === 'manual') {
          clearTimeout(timer);
          const hasBody = method !== 'HEAD' && !NULL_BODY_STATUSES.has(res.statusCode);
          if (hasBody) {
            out.body = res.body;
            out.iter = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
          } else {
            res.body.destroy();
            end(state, key, out);
          }
          // Fetch: a response's URL is serialized without its fragment.
          const finalUrl = new URL(url.href);
          finalUrl.hash = '';
          return { status: res.statusCode, statusText: res.statusText ?? '', headers: flattenHeaders(res.headers), url: finalUrl.href, redirected: hops > 0, hasBody } satisfies FetchHead;
        }
        // Fetch §4.4 HTTP-redirect fetch, in the spec's order.
        res.body.dump({ limit: 64 * 1024 }).catch(() => {});
        if (p.redirect === 'error') throw new TypeError(`fetch to ${url.href} was redirected (${res.statusCode} to ${location}) and the request's redirect mode is "error".`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new TypeError(`fetch to ${url.href}: the redirect Location "${location}" is not a valid URL.`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError(`fetch to ${url.href}: redirect to a "${next.protocol.slice(0, -1)}" URL is not allowed.`);
        if (++hops > MAX_REDIRECTS) throw new TypeError(`fetch to ${p.url}: too many redirects (more than ${MAX_REDIRECTS}).`);
        if (res.statusCode !== 303 && body === 'stream') {
          throw new TypeError(`fetch to ${url.href}: cannot follow a ${res.statusCode} redirect with a streamed request body, which cannot be sent twice. Pass the body as a string or bytes, or use redirect: "manual".`);
        }
        if (((res.statusCode === 301 || res.statusCode === 302) && method === 'POST') || (res.statusCode === 303 && method !== 'GET' && method !== 'HEAD')) {
          method = 'GET';
          if (body === 'stream') out.upload?.close(new TypeError('fetch: the request body is not sent after a 303 redirect'));
          body = null;
          headers = withoutHeaders(headers, BODY_HEADERS);
        }
        if (next.origin !== url.origin) headers = withoutHeaders(headers, CROSS_ORIGIN_DROPPED);
        url = next;
      }
    } catch (err) {
      clearTimeout(timer);
      // Translated before end(): ending aborts the controller, which would read as an abort.
      const e = toWorkerError(err, out, timeoutMs, 'head');
      end(state, key, out);
      throw e;
    }
  };

  const end = (state: Map<string, unknown>, key: string, out: Outbound): void => {
    state.delete(key);
    out.destroy();
  };

  const write: HostOp = (payload, ctx) => {
    const out = outbound(ctx, payload);
    const p = payload as { chunk?: unknown; error?: unknown };
    if (out.upload === undefined) return Promise.reject(new TypeError('fetch.write: this fetch has no streamed body'));
    if (typeof p.error === 'string') return out.upload.fail(p.error);
    const chunk = p.chunk instanceof Uint8Array ? p.chunk : null;
    return out.upload.write(chunk);
  };

  const read: HostOp = async (payload, ctx) => {
    const out = outbound(ctx, payload);
    const state = ctx.request as Map<string, unknown>;
    const key = `fetch:${(payload as { id: number }).id}`;
    if (out.iter === undefined) return null;
    try {
      for (;;) {
        const { done, value } = await out.iter.next();
        if (done === true) {
          end(state, key, out);
          return null;
        }
        // A fresh, compact copy: socket chunks are often views into a larger
        // pooled buffer, and the isolate copy would carry all of it.
        if (value.byteLength > 0) return Uint8Array.prototype.slice.call(value);
      }
    } catch (err) {
      const e = toWorkerError(err, out, timeoutMs, 'body');
      end(state, key, out);
      throw e;
    }
  };

  const cancel: HostOp = (payload, ctx) => {
    const id = (payload as { id?: unknown } | null)?.id;
    const out = ctx.request?.get(`fetch:${String(id)}`);
    if (out instanceof Outbound) end(ctx.request as Map<string, unknown>, `fetch:${String(id)}`, out);
    return Promise.resolve(null);
  };

  return { 'fetch.start': start, 'fetch.write': write, 'fetch.read': read, 'fetch.cancel': cancel };
}

/** Split EDGEFN_FETCH_ALLOW-style text into entries, validating each (throws TypeError naming the bad one). */
export function parseAllowList(text: string): string[] {
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  new AllowList(entries);
  return entries;
}
