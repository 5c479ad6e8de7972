// Requests for functions not placed in this node's region. The front door
// hands such a connection here instead of to an isolate host (see
// router/front-door.ts `divert`); node:http parses it in this process and
// each request is proxied with undici to a node of the nearest healthy region
// that holds the function, streaming both ways (proxy.ts).
//
// Every request on a diverted connection is decided again, since a keep-alive
// connection may name another function later. One placed in this region goes
// to this node's own data plane over loopback (so it is still served here,
// by an isolate host). The reverse case, a connection held by an isolate
// host whose later request names a function placed elsewhere, comes back
// from that host to this node's data plane over loopback marked
// `edgefn-rerouted`, is diverted here, and is forwarded like any other.
//
// A forwarded request carries `edgefn-forwarded`, an HMAC under the cluster
// secret of the entry region and a timestamp. A node that receives one for a
// function it does not hold answers 503 region-unavailable instead of
// forwarding it again, so a request crosses at most one hop even while nodes
// disagree about placement; a client cannot forge the header without the
// secret (a worker sees the header, so a fresh one could be replayed for a
// minute, which only stops that request from being forwarded again).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { EdgefnError } from '../../runtime/index.ts';
import { functionName, sendError } from '../data-plane.ts';
import { HTTP_ERRORS } from '../http-errors.ts';
import type { PeerState } from './membership.ts';
import { PROBE_HOST, PROBE_PATH } from './membership.ts';
import { FORWARDED_HEADER, hasBody, proxyRequest, proxyUpgrade, REROUTED_HEADER } from './proxy.ts';
import { serveUpgrades, type UpgradeContext } from '../http-upgrade.ts';
import type { Placement } from './replica.ts';

export { FORWARDED_HEADER };

export const REGION_HEADER = 'edgefn-region';
/** A forwarded marker older than this is not trusted (s). */
const MARKER_MAX_AGE_S = 60;

export interface ForwarderDeps {
  region: string;
  /** node:http timeouts on the connections it takes (ms): a request head's arrival, and idle keep-alive. */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  baseDomain: string;
  /** This node's own data plane, for requests on a diverted connection that name a function served here. */
  selfUrl(): string;
  secret(): string | undefined;
  placement(name: string): Placement | undefined;
  /** The function a custom route gives a request (Host header, request target), if any. */
  routed?(host: string | undefined, target: string): string | undefined;
  servedHere(name: string): boolean;
  /** Nodes to try for a function placed in `regions`, best first. */
  candidates(name: string, placement: Placement): PeerState[];
  reportFailure(id: string, why: string): void;
}

export function signMarker(secret: string, entry: string, nowS = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${entry};${nowS}`).digest('base64url');
  return `${entry};${nowS};${mac}`;
}

/** The entry region of a trusted marker, or undefined. */
export function verifyMarker(secret: string | undefined, value: string | undefined, nowS = Math.floor(Date.now() / 1000)): string | undefined {
  if (secret === undefined || value === undefined) return undefined;
  const [entry, ts, mac] = value.split(';');
  if (entry === undefined || ts === undefined || mac === undefined) return undefined;
  const age = nowS - Number(ts);
  if (!(age >= -MARKER_MAX_AGE_S && age <= MARKER_MAX_AGE_S)) return undefined;
  const want = Buffer.from(createHmac('sha256', secret).update(`${entry};${ts}`).digest('base64url'));
  const got = Buffer.from(mac);
  return want.length === got.length && timingSafeEqual(want, got) ? entry : undefined;
}

export class Forwarder {
  readonly #deps: ForwarderDeps;
  readonly #server: Server;
  readonly #pools = new Map<string, Pool>();
  readonly #sockets = new Set<Socket>();
  #closed = false;

  constructor(deps: ForwarderDeps) {
    this.#deps = deps;
    const handle = (req: IncomingMessage, res: ServerResponse, up?: UpgradeContext): void => {
      this.#handle(req, res, up).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, new EdgefnError('ERR_INTERNAL', err instanceof Error ? err.message : String(err)), undefined, deps.region);
        else res.destroy();
      });
    };
    this.#server = createServer({ requestTimeout: 0, headersTimeout: deps.headersTimeoutMs, keepAliveTimeout: deps.keepAliveTimeoutMs, connectionsCheckingInterval: Math.min(1_000, deps.headersTimeoutMs / 2), noDelay: true }, handle);
    // A WebSocket handshake is decided like any request, then proxied as an upgrade (proxy.ts).
    serveUpgrades(this.#server, handle);
    // Never listens: the front door feeds it the connections it diverts. But
    // node:http starts checking headersTimeout only on 'listening' (it tracks
    // connections from then on), so without this a client could hold a
    // diverted connection open forever by sending a head slowly.
    this.#server.emit('listening');
  }

  /** Take a connection whose first request head (with any bytes after it) the front door already read. */
  adopt(socket: Socket, head: Uint8Array): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.unshift(Buffer.from(head.buffer, head.byteOffset, head.byteLength));
    this.#server.emit('connection', socket);
    socket.resume();
  }

  #pool(url: string): Pool {
    let p = this.#pools.get(url);
    if (p === undefined) this.#pools.set(url, (p = new Pool(url, { connections: 256, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000 })));
    return p;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, up?: UpgradeContext): Promise<void> {
    const d = this.#deps;
    if (req.headers.host === PROBE_HOST && req.url === PROBE_PATH) {
      req.resume();
      res.writeHead(204, { [REGION_HEADER]: d.region });
      res.end();
      return;
    }
    let name = functionName(req.headers.host, d.baseDomain);
    let placement = name === undefined ? undefined : d.placement(name);
    if (placement === undefined) {
      const claimed = d.routed?.(req.headers.host, req.url ?? '/');
      if (claimed !== undefined) {
        name = claimed;
        placement = d.placement(claimed);
      }
    }
    if (name === undefined || placement === undefined) {
      req.resume();
      sendError(res, new EdgefnError('ERR_NOT_FOUND', name === undefined ? `host "${req.headers.host ?? ''}" is not <function>.${d.baseDomain}` : `no function named "${name}"`), undefined, d.region);
      return;
    }
    if (d.servedHere(name)) {
      if (req.headers[REROUTED_HEADER] !== undefined) {
        // An isolate host of this node sent it here because it does not
        // serve the function, yet this process thinks it does: placement is
        // changing under the request. Sending it back could loop.
        req.resume();
        sendError(res, new EdgefnError('ERR_REGION_UNAVAILABLE', `function "${name}" is moving into region "${d.region}" (its placement is changing); retry the request`), undefined, d.region);
        return;
      }
      await this.#proxy(req, res, d.selfUrl(), { region: d.region, hop: false }, up);
      return;
    }
    const entry = verifyMarker(d.secret(), req.headers[FORWARDED_HEADER] as string | undefined);
    if (entry !== undefined) {
      req.resume();
      sendError(res, new EdgefnError('ERR_REGION_UNAVAILABLE', `this request was forwarded from region "${entry}", but region "${d.region}" does not hold function "${name}" (its placement is changing); retry the request`), undefined, d.region);
      return;
    }
    const candidates = d.candidates(name, placement);
    const where = placement.regions === null ? 'any region' : `regions ${placement.regions.join(', ')}`;
    if (candidates.length === 0) {
      req.resume();
      sendError(res, new EdgefnError('ERR_REGION_UNAVAILABLE', `function "${name}" runs in ${where}, and no node there is reachable from region "${d.region}"`), undefined, d.region);
      return;
    }
    // Only a request that can be sent again unchanged is retried: no body, and safe.
    const retryable = (req.method === 'GET' || req.method === 'HEAD') && !hasBody(req);
    for (let attempt = 0; ; attempt++) {
      const target = candidates[attempt]!;
      const failure = await this.#proxy(req, res, target.advertiseUrl, { region: target.region, hop: true }, up);
      if (failure === undefined) return;
      d.reportFailure(target.id, failure);
      if (res.headersSent || res.destroyed) return;
      if (retryable && attempt === 0 && candidates.length > 1) continue;
      if (!req.complete) req.resume();
      // 502: the request was lost in flight. 503: nowhere was left to send it.
      const status = retryable && candidates.length === 1 ? 503 : 502;
      const body = `function "${name}" runs in ${where}; the request was sent to region "${target.region}", which could not answer it (${failure})\n`;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'edgefn-error': HTTP_ERRORS.ERR_REGION_UNAVAILABLE[1], [REGION_HEADER]: d.region });
      res.end(body);
      return;
    }
  }

  /**
   * Send one request upstream and stream its answer back. Returns why the
   * upstream could not be reached (before any answer came), or undefined once
   * the answer is on its way to the client.
   */
  async #proxy(req: IncomingMessage, res: ServerResponse, url: string, to: { region: string; hop: boolean }, up?: UpgradeContext): Promise<string | undefined> {
    const d = this.#deps;
    const secret = d.secret();
    const options: Parameters<typeof proxyRequest>[3] = {
      ...(to.hop && secret !== undefined ? { extraHeaders: { [FORWARDED_HEADER]: signMarker(secret, d.region) } } : {}),
      decorate: (out, started) => {
        if (out[REGION_HEADER] === undefined) out[REGION_HEADER] = to.region;
        if (!to.hop) return;
        const ours = `edge;desc="${d.region}";dur=${(performance.now() - started).toFixed(1)}, forward;desc="${to.region}"`;
        const theirs = out['server-timing'];
        out['server-timing'] = theirs === undefined ? ours : [...(Array.isArray(theirs) ? theirs : [theirs]), ours];
      },
    };
    return up === undefined ? proxyRequest(this.#pool(url), req, res, options) : proxyUpgrade(url, req, res, up, options);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Stops the connection checks started above (the server was never bound, so it says so; nothing to wait for).
    this.#server.close(() => {});
    for (const s of this.#sockets) s.destroy();
    for (const p of this.#pools.values()) void p.destroy().catch(() => {});
  }
}
