// node:http options for the servers that parse client requests: the isolate
// hosts' (function traffic) and the control API's. Both take their bounds
// from NodeHttpConfig so that one setting covers every port.

import type { ServerOptions } from 'node:http';

export interface HttpTimeouts {
  headersTimeoutMs: number;
  /** 0: no bound. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/**
 * node:http checks the headers and request timeouts in a sweep every
 * `connectionsCheckingInterval` (default 30 s), so a slow-loris client could
 * otherwise hold a connection for the timeout plus up to 30 s. A sweep walks
 * only connections with a request in progress (not idle keep-alive ones),
 * so once a second costs little even with thousands open.
 */
export function serverTimeouts(t: HttpTimeouts): ServerOptions {
  const bound = t.requestTimeoutMs > 0 ? Math.min(t.headersTimeoutMs, t.requestTimeoutMs) : t.headersTimeoutMs;
  return {
    headersTimeout: t.headersTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(bound / 4))),
  };
}
