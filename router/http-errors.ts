// The one table from error codes to HTTP. The `edgefn-error` header value is
// part of our API: clients and tests match on it.

import type { ErrorCode } from '../runtime/index.ts';

export const HTTP_ERRORS: Record<ErrorCode, readonly [status: number, header: string]> = {
  ERR_CPU_LIMIT: [503, 'cpu-limit'],
  ERR_MEMORY_LIMIT: [503, 'memory-limit'],
  ERR_WALL_LIMIT: [503, 'wall-limit'],
  ERR_EXCEPTION: [500, 'exception'],
  ERR_BAD_RESPONSE: [500, 'bad-response'],
  ERR_SCRIPT_COMPILE: [500, 'script-compile'],
  ERR_SCRIPT_STARTUP: [500, 'script-startup'],
  ERR_NO_HANDLER: [500, 'no-handler'],
  ERR_HOST_RESTART: [503, 'host-restart'],
  ERR_ISOLATE_DISPOSED: [503, 'isolate-disposed'],
  ERR_NOT_FOUND: [404, 'not-found'],
  ERR_ROUTE_CONFLICT: [409, 'route-conflict'],
  ERR_INVALID_INPUT: [400, 'invalid-input'],
  ERR_CLOSED: [503, 'closed'],
  ERR_STORE_UNAVAILABLE: [503, 'store-unavailable'],
  // 503 when no region holding the function is healthy; a request lost in
  // flight to a region that died is answered 502 (see router/cluster/forwarder.ts).
  ERR_REGION_UNAVAILABLE: [503, 'region-unavailable'],
  ERR_REQUEST_TIMEOUT: [408, 'request-timeout'],
  ERR_TOO_MANY_CONNECTIONS: [503, 'too-many-connections'],
  // Admission limits (router/admission.ts); both answers carry Retry-After.
  ERR_OVERLOADED: [503, 'overloaded'],
  ERR_RATE_LIMITED: [429, 'rate-limited'],
  ERR_INTERNAL: [500, 'internal'],
};

/**
 * The whole HTTP/1.1 response for `err`, closing the connection, for the
 * front door to write on a raw socket whose request was being served by an
 * isolate host that died.
 */
// `extraHeaders`: more header lines, each ending in CRLF (a Retry-After, say).
export function rawErrorResponse(code: ErrorCode, message: string, statusOverride?: number, extraHeaders = ''): string {
  const [mapped, header] = HTTP_ERRORS[code];
  const status = statusOverride ?? mapped;
  const body = `${message}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n` +
    `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `edgefn-error: ${header}\r\n${extraHeaders}connection: close\r\n\r\n${body}`
  );
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** What requests on a host its watchdog ended are told. */
export const HOST_STUCK_MESSAGE = 'an isolate on the host serving this request could not be stopped (runaway allocation or a stuck engine), so the host was replaced; retry the request';
