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
  ERR_INVALID_INPUT: [400, 'invalid-input'],
  ERR_CLOSED: [503, 'closed'],
  ERR_INTERNAL: [500, 'internal'],
};
