// An isolate host holds a client's keep-alive connection for as long as it
// lasts, chosen by the connection's first request. On a cluster node a later
// request on it may name a function that runs only in other regions: the
// host has no route for it, so it sends the request to its own front door
// over loopback, whose forwarder sends it on to the nearest region holding
// the function (or answers 404 if no region does), and streams the answer
// back. Only this rare request pays the extra loopback hop; the connection
// stays where it is.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { proxyRequest, proxyUpgrade, REROUTED_HEADER } from '../cluster/proxy.ts';
import type { UpgradeContext } from '../http-upgrade.ts';
import { sendError } from '../data-plane.ts';
import { EdgefnError } from '../../runtime/index.ts';

export class Rerouter {
  #pool: Pool | undefined;
  #front: string | undefined;
  readonly #region: string;

  constructor(region: string) {
    this.#region = region;
  }

  /** The front door's data plane, once it listens. */
  setFront(url: string): void {
    void this.#pool?.close().catch(() => {});
    this.#front = url;
    this.#pool = new Pool(url, { connections: 64, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000 });
  }

  /** See DataPlaneDeps.elsewhere. */
  take(req: IncomingMessage, res: ServerResponse, onHead: () => void, up?: UpgradeContext): boolean {
    // Came back from the front door: it believes this node serves the
    // function, this host does not (a deploy is landing). A 404 ends it.
    if (this.#pool === undefined || this.#front === undefined || req.headers[REROUTED_HEADER] !== undefined) return false;
    const options = { extraHeaders: { [REROUTED_HEADER]: '1' }, onHead };
    (up === undefined ? proxyRequest(this.#pool, req, res, options) : proxyUpgrade(this.#front, req, res, up, options)).then(
      (failure) => {
        if (failure === undefined || res.headersSent || res.destroyed) return;
        if (!req.complete) req.resume();
        onHead();
        sendError(res, new EdgefnError('ERR_REGION_UNAVAILABLE', `this node's front door could not take a request for a function placed in another region (${failure})`), undefined, this.#region);
      },
      () => res.destroy(),
    );
    return true;
  }

  close(): void {
    void this.#pool?.destroy().catch(() => {});
  }
}
