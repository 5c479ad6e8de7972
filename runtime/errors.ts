// Every failure edgefn reports has one of these stable codes. Callers match on
// `err.code`, never on message text; router/http-errors.ts maps each to an
// HTTP status and an `edgefn-error` header value in one table.

export const ERROR_CODES = [
  'ERR_CPU_LIMIT', // the request's CPU budget ran out; its isolate is discarded
  'ERR_MEMORY_LIMIT', // the isolate passed its memory budget and was discarded
  'ERR_WALL_LIMIT', // the request ran longer than its wall-time budget
  'ERR_EXCEPTION', // the worker threw or its handler promise rejected
  'ERR_BAD_RESPONSE', // the handler produced something that is not a Response
  'ERR_SCRIPT_COMPILE', // the script does not parse or bundle
  'ERR_SCRIPT_STARTUP', // the script's top level threw or ran out of its start-up budget
  'ERR_NO_HANDLER', // the script has no fetch handler
  'ERR_HOST_RESTART', // the isolate host serving the request died or was replaced
  'ERR_ISOLATE_DISPOSED', // the isolate went away under a request for another reason
  'ERR_NOT_FOUND', // no such function
  'ERR_ROUTE_CONFLICT', // a deploy claims a route another function already has
  'ERR_INVALID_INPUT', // a deploy request or option is malformed
  'ERR_CLOSED', // the owner was closed or destroyed
  'ERR_STORE_UNAVAILABLE', // the cluster's PostgreSQL cannot be reached, so a change cannot be made durable
  'ERR_REGION_UNAVAILABLE', // no healthy region holding the function could serve a request that entered elsewhere
  'ERR_REQUEST_TIMEOUT', // a client took longer than allowed to send its request head or body
  'ERR_TOO_MANY_CONNECTIONS', // the node holds as many client connections as it is configured to
  'ERR_OVERLOADED', // the function (or the node for a client) is at its concurrency limit; retry after Retry-After
  'ERR_RATE_LIMITED', // the function is over its requests-per-second limit, or a client over its connection limit; retry after Retry-After
  'ERR_INTERNAL', // a bug in edgefn
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class EdgefnError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EdgefnError';
    this.code = code;
  }
}
