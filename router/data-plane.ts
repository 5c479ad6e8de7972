// Function traffic over HTTP, served inside an isolate host on the connections
// the front door hands it: Host → function, request in, response out, with
// bodies streamed both ways and errors from the one table.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { EdgefnError, type RequestHandle, type ResponseSink, type RuntimeRequest, type Timing } from '../runtime/index.ts';
import { HTTP_ERRORS } from './http-errors.ts';
import type { Admit, AdmissionCaps } from './host/admission.ts';
import type { TrafficSplit } from './traffic-split.ts';
import { LIMIT_KINDS, type LimitKind } from './function-report.ts';
import type { MeteredRequest } from './host/request-meter.ts';
import { targetPath } from './route-table.ts';
import type { ServerSocket, WebSocketAcceptor } from './host/websocket.ts';
import type { UpgradeContext } from './http-upgrade.ts';

/** Request bodies up to this size are sent to the isolate whole; larger ones stream. */
const WHOLE_BODY_MAX = 64 * 1024;
/** Unread request body read off and dropped after an early response, at most (bytes); more closes the connection. */
const DRAIN_MAX_BYTES = 8 * 1024 * 1024;
/** How long such a drain may take (ms). */
const DRAIN_MAX_MS = 5_000;
/** How long a request refused by admission (overloaded, rate-limited) waits for its answer, in ms. */
const REFUSAL_DELAY_MS = 200;

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to the worker's response.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

export interface Route {
  name: string;
  version: number;
  /** The version's admission limits, when it has any (router/admission.ts); absent: admitted without counting. */
  admission?: AdmissionCaps | undefined;
  /** The `edgefn-version` header's value, made once per route rather than per response. */
  header?: string;
  /** During a gradual rollout: chooses the version per request (`version` is then the current one). */
  split?: TrafficSplit;
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
  /**
   * A request for a function this process has no route for: true if it was
   * taken elsewhere (a cluster host sends it to its front door, which
   * forwards it to a region that holds the function), false for a 404.
   * `onHead` must be called just before the response head is written.
   */
  elsewhere?(req: IncomingMessage, res: ServerResponse, onHead: () => void, upgrade?: UpgradeContext): boolean;
  /** Admission control for routes with `admission` limits (router/host/admission.ts). */
  admit?(route: Route, done: Admit): void;
  /** Gives each request its `edgefn-request-id` (the client's, when valid); none: no ids. */
  requestIds?: { for(given: string | string[] | undefined): string } | undefined;
  /** Told about every function request once it is over (router/host/request-meter.ts). */
  meter?: { record(name: string, version: number, r: MeteredRequest): void } | undefined;
  /** Completes the upgrades workers accept with a WebSocket (router/host/websocket.ts); absent: a 101 from a worker is refused. */
  webSockets?: WebSocketAcceptor | undefined;
}

const LIMIT_HEADERS = new Set<string>(LIMIT_KINDS);

/**
 * `cold` (when the request started an isolate), `cpu` (CPU charged so far)
 * and, when given, `wall` (dispatch to this response head), in ms. Usage
 * metering (router/usage.ts) adds up the same figures at the end of the
 * request, so they reconcile with what each response said.
 */
export function serverTiming(t: Timing, wallMs?: number): string {
  let out = `cpu;dur=${t.cpuMs.toFixed(3)}`;
  if (t.coldMs !== undefined) out = `cold;dur=${t.coldMs.toFixed(3)}, ${out}`;
  if (wallMs !== undefined) out += `, wall;dur=${wallMs.toFixed(3)}`;
  return out;
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

/** uri-host [ ":" port ] of RFC 3986: reg-name characters, or an IP literal in brackets. */
const HOST_VALUE = /^(?:[A-Za-z0-9._~!$&'()*+,;=%-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

/** Why a request's Host is refused (RFC 9112 §3.2: more than one, or an invalid value, is a 400), or undefined. */
export function badHost(req: IncomingMessage): string | undefined {
  let count = 0;
  let value = '';
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== 'host') continue;
    count++;
    value = req.rawHeaders[i + 1]!;
  }
  if (count > 1) return `the request has ${count} Host headers; send one`;
  if (count === 1 && !HOST_VALUE.test(value)) return `the Host header ${JSON.stringify(value)} is not a host name or address`;
  return undefined;
}

/** More of what an error answer says: the version that ran, the request's id, its wall time to the head, a Retry-After. */
export interface ErrorDetail {
  version?: string | undefined;
  requestId?: string | undefined;
  wallMs?: number | undefined;
  retryAfterSec?: number | undefined;
}

/** `region`: the cluster region answering, for its `edgefn-region` header (none on a standalone node). */
export function sendError(res: ServerResponse, err: EdgefnError, timing?: Timing, region?: string, o: ErrorDetail = {}): void {
  const [status, header] = HTTP_ERRORS[err.code];
  const body = `${err.message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'edgefn-error': header,
  };
  if (o.retryAfterSec !== undefined) headers['retry-after'] = o.retryAfterSec;
  if (region !== undefined) headers['edgefn-region'] = region;
  if (o.version !== undefined) headers['edgefn-version'] = o.version;
  if (o.requestId !== undefined) headers['edgefn-request-id'] = o.requestId;
  if (timing !== undefined) headers['server-timing'] = serverTiming(timing, o.wallMs);
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * The data plane's handler. `upgrade`: the request came as an HTTP upgrade
 * (node:http's 'upgrade' event), `res` writes to its bare socket, and a
 * worker may take the connection over with a WebSocket.
 */
export function createDataPlane(deps: DataPlaneDeps): (req: IncomingMessage, res: ServerResponse, upgrade?: UpgradeContext) => void {
  return (req, res, upgrade) => {
    const socket = req.socket;
    deps.watch?.start(socket);
    // One 'end' per request for the ledger: the response finished, or the
    // connection went first.
    let ended = false;
    // The admission slot this request holds, given back when it ends.
    let release: (() => void) | undefined;
    const watchEnd = () => {
      if (ended) return;
      ended = true;
      release?.();
      deps.watch?.end(socket);
    };
    res.once('finish', watchEnd);
    res.once('close', watchEnd);
    // An upgrade taken over (a WebSocket, a proxied upgrade) detaches `res`: the socket's end is the request's.
    upgrade?.socket.once('close', watchEnd);
    if (deps.draining?.()) res.shouldKeepAlive = false;

    const requestId = deps.requestIds?.for(req.headers['edgefn-request-id']);
    const hostProblem = badHost(req);
    if (hostProblem !== undefined) {
      // Two hosts, or one that is not a host, could be read one way here and
      // another way by whatever sits in front: refused, and the connection with it.
      res.shouldKeepAlive = false;
      drainRequest(req, res);
      deps.watch?.head(socket);
      sendError(res, new EdgefnError('ERR_INVALID_INPUT', hostProblem), undefined, deps.region, { requestId });
      return;
    }
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
      // A proxied upgrade releases the socket once it is spliced: from then on, as for a worker's own socket, an idle connection to the ledger.
      const spliced: UpgradeContext | undefined = upgrade === undefined ? undefined : {
        ...upgrade,
        release: () => {
          upgrade.release();
          watchEnd();
        },
      };
      if (name !== undefined && deps.elsewhere?.(req, res, () => deps.watch?.head(socket), spliced) === true) return;
      const what = name === undefined ? `host "${req.headers.host ?? ''}" is not <function>.${deps.baseDomain} and no route claims ${req.headers.host ?? ''}${targetPath(req.url ?? '/')}` : `no function named "${name}"`;
      closeIfLargeRemainder(req, res, 0);
      drainRequest(req, res);
      deps.watch?.head(socket);
      sendError(res, new EdgefnError('ERR_NOT_FOUND', what), undefined, deps.region, { requestId });
      return;
    }
    // The version this request runs on: the route's, or during a rollout the split's choice.
    const target: Route = route.split === undefined ? route : route.split.pick(req.headers);
    const versionHeader = target.header ?? String(target.version);
    const url = `http://${req.headers.host}${req.url ?? '/'}`;
    if (route.admission !== undefined && deps.admit !== undefined) {
      deps.admit(route, (refusal, slot) => {
        if (ended) {
          // The client left while the request waited for admission.
          slot?.();
          return;
        }
        release = slot;
        if (refusal === undefined) {
          admitted();
          return;
        }
        // Held back REFUSAL_DELAY_MS: a client that resends as soon as it is
        // refused (a flood ignores Retry-After) then costs this host a
        // refusal per connection per REFUSAL_DELAY_MS, not as many as it can
        // send, and the CPU stays with the functions still being served.
        const refuse = () => {
          if (ended) return;
          closeIfLargeRemainder(req, res, 0);
          drainRequest(req, res);
          deps.watch?.head(socket);
          sendError(res, new EdgefnError(refusal.code, refusal.message), undefined, deps.region, { requestId, retryAfterSec: refusal.retryAfterSec });
        };
        setTimeout(refuse, REFUSAL_DELAY_MS);
      });
      return;
    }
    admitted();

    function admitted(): void {
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
    }

    function start(body: Uint8Array | null | 'stream'): void {
      const t0 = performance.now();
      // For the meter: what the client was answered, and the body bytes each way.
      let answered = 0;
      let headMs = 0;
      let egress = 0;
      let limit: LimitKind | undefined;
      let metered = false;
      let lastTiming: Timing | undefined;
      /** Bytes of WebSocket messages from the client (those to it count in `egress`). */
      let ingressWs = 0;
      const meter = (timing: Timing): void => {
        if (metered || deps.meter === undefined) return;
        metered = true;
        const wallMs = performance.now() - t0;
        deps.meter.record(route!.name, route!.version, {
          status: answered || 500,
          cpuMs: timing.cpuMs,
          wallMs,
          headMs: headMs || wallMs,
          coldMs: timing.coldMs,
          ingressBytes: (body instanceof Uint8Array ? body.byteLength : received) + ingressWs,
          egressBytes: egress,
          subrequests: timing.subrequests ?? 0,
          limit,
        });
      };
      let headSent = false;
      let streaming = false;
      let finished = false;
      let handle: RequestHandle | undefined;
      /** The worker's WebSocket, once it took the connection over. */
      let webSocket: ServerSocket | undefined;
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
          headMs = performance.now() - t0;
          answered = status;
          const out: string[] = [];
          let hasLength = false;
          for (let i = 0; i < headers.length; i += 2) {
            const k = headers[i]!;
            const lk = k.toLowerCase();
            if (HOP_BY_HOP.has(lk)) continue;
            if (lk === 'content-length') {
              // A known body's length is ours to state; a stream's is unknown.
              if (b !== null) continue;
              // No body: the worker's length is only meaningful in answer to
              // HEAD (the length a GET would have), and only as one decimal
              // number. Anything else would be sent as framing the client
              // then waits on (a length with no bytes behind it) or cannot parse.
              if (req.method !== 'HEAD' || hasLength || !/^\d{1,15}$/.test(headers[i + 1]!)) continue;
              hasLength = true;
            }
            out.push(k, headers[i + 1]!);
          }
          out.push('server-timing', serverTiming(timing, headMs));
          if (requestId !== undefined) out.push('edgefn-request-id', requestId);
          if (deps.region !== undefined) out.push('edgefn-region', deps.region);
          out.push('edgefn-version', versionHeader);
          if (b instanceof Uint8Array) out.push('content-length', String(b.byteLength));
          else if (b === null && !hasLength && status !== 204 && status !== 304) out.push('content-length', '0');
          if (!bodyEnded) closeIfLargeRemainder(req, res, received);
          try {
            res.writeHead(status, out);
          } catch (err) {
            // The runtime checks heads at the isolate boundary; this is the
            // last line, so that nothing a worker sends can throw in here.
            res.removeHeader('content-length');
            answered = HTTP_ERRORS.ERR_BAD_RESPONSE[0];
            sendError(res, new EdgefnError('ERR_BAD_RESPONSE', `the worker's response could not be sent: ${err instanceof Error ? err.message : String(err)}`), timing, deps.region, { version: versionHeader, requestId, wallMs: headMs });
            return;
          }
          streaming = b === 'stream';
          if (b instanceof Uint8Array) egress += b.byteLength;
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
          egress += n;
          res.write(bytes, () => handle?.ackResponse(n));
        },
        end() {
          if (!res.writableEnded) res.end();
        },
        fail(err, timing) {
          const [errStatus, errHeader] = HTTP_ERRORS[err.code];
          if (LIMIT_HEADERS.has(errHeader)) limit = errHeader as LimitKind;
          lastTiming = timing;
          if (webSocket !== undefined) {
            // A budget, the wall time or the isolate's end, after the upgrade: the socket says why.
            webSocket.fail(err.message);
            return;
          }
          if (headSent) {
            res.destroy(err);
            return;
          }
          headSent = true;
          deps.watch?.head(socket);
          headMs = performance.now() - t0;
          answered = errStatus;
          if (!bodyEnded) closeIfLargeRemainder(req, res, received);
          if (!res.headersSent) sendError(res, err, timing, deps.region, { version: versionHeader, requestId, wallMs: headMs });
        },
        pull() {
          if (!bodyEnded && !finished) req.resume();
        },
        upgrade(headers, timing, socketLimits) {
          if (upgrade === undefined || deps.webSockets === undefined) {
            this.fail(new EdgefnError('ERR_BAD_RESPONSE', 'the worker answered with a WebSocket (status 101), but the request was not a WebSocket upgrade'), timing);
            return false;
          }
          headSent = true;
          deps.watch?.head(socket);
          headMs = performance.now() - t0;
          answered = 101;
          const extra = ['server-timing', serverTiming(timing, headMs)];
          if (requestId !== undefined) extra.push('edgefn-request-id', requestId);
          if (deps.region !== undefined) extra.push('edgefn-region', deps.region);
          extra.push('edgefn-version', versionHeader);
          // From here ws owns the socket; the ServerResponse must not write to it or report its close.
          upgrade.release();
          webSocket = deps.webSockets.accept(req, upgrade.socket, upgrade.head, headers, extra, {
            message: (data) => {
              ingressWs += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
              handle?.socketMessage(data);
            },
            error: (message) => handle?.socketError(message),
            closed: (code, reason, wasClean) => handle?.socketClosed(code, reason, wasClean),
          }, socketLimits);
          if (webSocket === undefined) {
            // Not a valid handshake: ws answered 400 and closed the connection.
            answered = 400;
            return false;
          }
          // The HTTP exchange is over: for the host's ledger (ticks to the
          // front door every TICK_MS while anything is in flight, and the
          // watchdog's answers) an open socket is an idle connection, not a
          // request that could still be answered, and the admission slot goes
          // back. A draining host closes it like any idle connection.
          watchEnd();
          return true;
        },
        socketSend(data) {
          egress += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
          webSocket?.send(data);
        },
        socketClose(code, reason) {
          webSocket?.close(code, reason);
        },
        done(timing) {
          finished = true;
          meter(timing);
          // A request can only end without an answer through a bug; say so rather than hang.
          if (!headSent) {
            headSent = true;
            deps.watch?.head(socket);
            sendError(res, new EdgefnError('ERR_INTERNAL', 'the request ended without a response'), undefined, deps.region, { version: versionHeader, requestId });
          } else if (webSocket === undefined && !res.writableEnded) res.end();
          if (!bodyEnded) {
            req.off('data', onData);
            drainRequest(req, res);
          }
        },
      };
      handle = deps.dispatch(target, { method: req.method ?? 'GET', url, headers: req.rawHeaders, body, requestId }, sink);
      // Refused before it reached an isolate (no such version, a script that
      // fails to load): there is no done() to wait for.
      if (handle === undefined) meter(lastTiming ?? { cpuMs: 0 });
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
