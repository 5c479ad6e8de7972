// HTTP upgrade requests (node:http's 'upgrade' event) served by the same
// handlers as every other request: the data plane, and a cluster node's
// forwarder. Only a handler that takes the connection over (a worker's
// WebSocket, a proxied upgrade) touches the bare socket.

import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * node:http hands an upgrade request over with the bare socket. The data
 * plane answers it like any other request, so it gets a ServerResponse
 * writing to that socket: whatever the worker answers other than a
 * WebSocket (an error, a 426, a redirect) goes out as plain HTTP, and the
 * connection closes after it. When the worker does take the socket,
 * `release` detaches this response so that ws alone owns the socket.
 */
export function upgradeResponse(req: IncomingMessage, socket: Duplex): { res: ServerResponse; release(): void } {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Parameters<ServerResponse['assignSocket']>[0]);
  const onFinish = () => socket.end();
  res.once('finish', onFinish);
  return {
    res,
    release() {
      res.off('finish', onFinish);
      res.detachSocket(socket as Parameters<ServerResponse['detachSocket']>[0]);
    },
  };
}

/** Serve `server`'s upgrade requests through `handle` (the data plane), with the socket to take over. */
export function serveUpgrades(server: Server, handle: (req: IncomingMessage, res: ServerResponse, upgrade: UpgradeContext) => void): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { res, release } = upgradeResponse(req, socket);
    handle(req, res, { socket, head, release });
  });
}

/** An upgrade request's connection, for the data plane (data-plane.ts). */
export interface UpgradeContext {
  socket: Duplex;
  /** Bytes that followed the request head on the socket. */
  head: Buffer;
  /** Detach the data plane's ServerResponse from the socket (the worker took it). */
  release(): void;
}
