// The one error class the control-API client throws. Server failures carry the
// server's `error.code`; failures the client detects itself get one of the
// codes below, so callers can match on `err.code` for both.

export const CLIENT_ERROR_CODES = [
  'ERR_API_UNREACHABLE', // no HTTP answer at all: connection refused, DNS failure, reset
  'ERR_API_TIMEOUT', // no answer within the client's timeoutMs
  'ERR_API_BAD_RESPONSE', // an answer that is not the JSON the contract promises (wrong server on that port?)
  'ERR_INVALID_INPUT', // the client refused the call before sending it; the server uses the same code for the same mistakes
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export class EdgefnApiError extends Error {
  /** The HTTP status, or 0 when the failure happened before any answer arrived. */
  readonly status: number;
  /** The server's `error.code` (e.g. `ERR_NOT_FOUND`), or one of CLIENT_ERROR_CODES. */
  readonly code: string;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EdgefnApiError';
    this.status = status;
    this.code = code;
  }
}

export function isEdgefnApiError(e: unknown): e is EdgefnApiError {
  return e instanceof EdgefnApiError;
}
