// Function traffic over HTTP, served inside an isolate host on the connections
// the front door hands it: Host → function, request in, response out, with
// bodies streamed both ways and errors from the one table.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { EdgefnError, type RequestHandle, type ResponseSink, type RuntimeRequest, type Timing } from '../runtime/index.ts';
import { HTTP_ERRORS } from './http-errors.ts';
import { targetPath } from './route-table.ts';

/** Request bodies up to this size are sent to the isolate whole; larger ones stream. */
const WHOLE_BODY_MAX = 64 * 1024;
/** Unread request body read off and dropped after an early response, at most (bytes); more closes the connection. */
const DRAIN_MAX_BYTES = 8 * 1024 * 1024;
/** How long such a drain may take (ms). */
const DRAIN_MAX_MS = 5_000;

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to the worker's response.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

export interface Route {
  name: string;
  version: number;
}

/** What the data plane tells its host about each request's life (router/host/connections.ts). */
export interface RequestWatch {
  start(socket: Socket): void;
  head(socket: Socket): void;
  end(socket: Socket): void;
}

export interface DataPlaneDeps {
  baseDomain: string;
  route(name: string): Route | undefined;
  /**
   * The function a custom route (router/route-table.ts) gives a request whose
   * Host is not `<name>.<base domain>` of a deployed function, if any.
   */
  routed?(host: string | undefined, target: string): string | undefined;
  dispatch(route: Route, req: RuntimeRequest, sink: ResponseSink): RequestHandle | undefined;
  watch?: RequestWatch | undefined;
  /** True while the host is draining: responses then close their connection. */
  draining?(): boolean;
  /** A cluster node's region: every answer then says `edgefn-region: <region>`. */
  region?: string | undefined;
}

export function serverTiming(t: Timing): string {
  const cpu = `cpu;dur=${t.cpuMs.toFixed(3)}`;
  return t.coldMs === undefined ? cpu : `cold;dur=${t.coldMs.toFixed(3)}, ${cpu}`;
}

export function functionName(host: string | undefined, baseDomain: string): string | undefined {
  if (host === undefined) return undefined;
  let h = host.toLowerCase();
  const colon = h.lastIndexOf(':');
  if (colon > 0 && !h.endsWith(']')) h = h.slice(0, colon);
  const suffix = `.${baseDomain}`;
  if (!h.endsWith(suffix)) return undefined;
  const name = h.slice(0, -suffix.length);
  return /^[a-z0-9-]{1,63}$/.test(name) ? name : undefined;
}

/** `region`: the cluster region answering, for its `edgefn-region` header (none on a standalone node). */
export function sendError(res: ServerResponse, err: EdgefnError, timing?: Timing, region?: string): void {
  const [status, header] = HTTP_ERRORS[err.code];
  const body = `${err.message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'edgefn-error': header,
  };
  if (region !== undefined) headers['edgefn-region'] = region;
  if (timing !== undefined) headers['server-timing'] = serverTiming(timing);
  res.writeHead(status, headers);
  res.end(body);
}

export function createDataPlane(deps: DataPlaneDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const socket = req.socket;
    deps.watch?.start(socket);
    // One 'end' per request for the ledger: the response finished, or the
    // connection went first.
    let ended = false;
    const watchEnd = () => {
      if (ended) return;
      ended = true;
      deps.watch?.end(socket);
    };
    res.once('finish', watchEnd);
    res.once('close', watchEnd);
    if (deps.draining?.()) res.shouldKeepAlive = false;

    let name = functionName(req.headers.host, deps.baseDomain);
    let route = name === undefined ? undefined : deps.route(name);
    // `<name>.<base domain>` of a deployed function costs what it did before
    // routes; only other hosts (and names nobody deployed) consult the table.
    if (route === undefined && deps.routed !== undefined) {
      const claimed = deps.routed(req.headers.host, req.url ?? '/');
      if (claimed !== undefined) {
        name = claimed;
        route = deps.route(claimed);
      }
    }
    if (route === undefined) {
      const what = name === undefined ? `host "${req.headers.host ?? ''}" is not <function>.${deps.baseDomain} and no route claims ${req.headers.host ?? ''}${targetPath(req.url ?? '/')}` : `no function named "${name}"`;
      closeIfLargeRemainder(req, res, 0);
      drainRequest(req, res);
      deps.watch?.head(socket);
      sendError(res, new EdgefnError('ERR_NOT_FOUND', what), undefined, deps.region);
      return;
    }
    const url = `http://${req.headers.host}${req.url ?? '/'}`;
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const length = Number(req.headers['content-length'] ?? NaN);
    if (!hasBody) {
      req.resume();
      start(null);
    } else if (length <= WHOLE_BODY_MAX) {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => start(parts.length === 1 ? new Uint8Array(parts[0]!) : new Uint8Array(Buffer.concat(parts))));
    } else {
      start('stream');
    }

    function start(body: Uint8Array | null | 'stream'): void {
      let headSent = false;
      let streaming = false;
      let finished = false;
      let handle: RequestHandle | undefined;
      // Streamed request bodies are pushed as they arrive, up to the runtime's
      // credit window (REQUEST_WINDOW_BYTES); past it the socket is paused
      // until the runtime has room again (sink.pull), so an upload never sits
      // whole in this process and costs no round trip per chunk.
      let bodyEnded = body !== 'stream';
      let received = 0;
      const onData = (chunk: Buffer) => {
        received += chunk.byteLength;
        if (handle?.pushBody(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)) === false) req.pause();
      };
      const sink: ResponseSink = {
        head(status, headers, b, timing) {
          if (headSent) return;
          headSent = true;
          deps.watch?.head(socket);
          const out: string[] = [];
          let hasLength = false;
          for (let i = 0; i < headers.length; i += 2) {
            const k = headers[i]!;
            const lk = k.toLowerCase();
            if (HOP_BY_HOP.has(lk)) continue;
            if (lk === 'content-length') {
              // A known body's length is ours to state; a stream's is unknown.
              if (b !== null) continue;
              hasLength = true;
            }
            out.push(k, headers[i + 1]!);
          }
          out.push('server-timing', serverTiming(timing));
          if (deps.region !== undefined) out.push('edgefn-region', deps.region);
          if (b instanceof Uint8Array) out.push('content-length', String(b.byteLength));
          else if (b === null && !hasLength && status !== 204 && status !== 304) out.push('content-length', '0');
          if (!bodyEnded) closeIfLargeRemainder(req, res, received);
          try {
            res.writeHead(status, out);
          } catch (err) {
            // The runtime checks heads at the isolate boundary; this is the
            // last line, so that nothing a worker sends can throw in here.
            res.removeHeader('content-length');
            sendError(res, new EdgefnError('ERR_BAD_RESPONSE', `the worker's response could not be sent: ${err instanceof Error ? err.message : String(err)}`), timing, deps.region);
            return;
          }
          streaming = b === 'stream';
          if (b instanceof Uint8Array) res.end(b);
          else if (b === null) res.end();
          else res.flushHeaders();
        },
        chunk(bytes) {
          if (!streaming || res.writableEnded) return;
          // Acknowledged once the socket has taken the bytes: the runtime keeps
          // at most a window of unacknowledged body per request, so a client
          // slower than the worker parks the worker instead of filling this
          // process with the body.
          const n = bytes.byteLength;
          res.write(bytes, () => handle?.ackResponse(n));
        },
        end() {
          if (!res.writableEnded) res.end();
        },
        fail(err, timing) {
          if (headSent) {
            res.destroy(err);
            return;
          }
          headSent = true;
          deps.watch?.head(socket);
          if (!bodyEnded) closeIfLargeRemainder(req, res, received);
          if (!res.headersSent) sendError(res, err, timing, deps.region);
        },
        pull() {
          if (!bodyEnded && !finished) req.resume();
        },
        done() {
          finished = true;
          // A request can only end without an answer through a bug; say so rather than hang.
          if (!headSent) {
            headSent = true;
            deps.watch?.head(socket);
            sendError(res, new EdgefnError('ERR_INTERNAL', 'the request ended without a response'), undefined, deps.region);
          } else if (!res.writableEnded) res.end();
          if (!bodyEnded) {
            req.off('data', onData);
            drainRequest(req, res);
          }
        },
      };
      handle = deps.dispatch(route!, { method: req.method ?? 'GET', url, headers: req.rawHeaders, body }, sink);
      if (body === 'stream' && !finished) {
        req.on('data', onData);
        req.on('end', () => {
          bodyEnded = true;
          handle?.pushBody(null);
        });
      }
      res.on('close', () => {
        if (!finished && !res.writableFinished) handle?.cancel('the client disconnected');
      });
    }
  };
}

/**
 * A response is going out before the request body has been read to its end
 * (an error, or a worker that ignores the body). The connection can only be
 * reused once the rest of the body has been read off it; past
 * DRAIN_MAX_BYTES that is not worth it, so the response says
 * `Connection: close` and the connection ends after it.
 */
function closeIfLargeRemainder(req: IncomingMessage, res: ServerResponse, received: number): void {
  if (req.complete || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) return;
  const length = Number(req.headers['content-length'] ?? NaN);
  const remaining = Number.isFinite(length) ? length - received : Infinity;
  if (remaining > DRAIN_MAX_BYTES) res.shouldKeepAlive = false;
}

/**
 * Read the rest of a request body nobody wants and drop it, so that the
 * client's next request on this connection is parsed (not stuck behind a
 * paused upload). Bounded in bytes and time; past either the connection is
 * closed instead.
 */
function drainRequest(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  let drained = 0;
  const close = () => req.socket.destroy();
  const timer = setTimeout(close, DRAIN_MAX_MS);
  timer.unref();
  const onData = (c: Buffer) => {
    drained += c.byteLength;
    if (drained <= DRAIN_MAX_BYTES) return;
    // More than a reused connection is worth: read on only until the response is out.
    req.off('data', onData);
    req.on('data', () => {});
    if (res.writableFinished) close();
    else res.once('finish', close);
  };
  req.on('data', onData);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
