// Per-request and per-isolate budgets. A function's own limits override the
// node's defaults field by field.

import { EdgefnError } from './errors.ts';

export interface Limits {
  /** CPU time the tenant's code may run per request, in milliseconds. Default 50. */
  cpuMs: number;
  /** Isolate heap limit, in megabytes (isolated-vm's minimum is 8). Default 128. */
  memoryMb: number;
  /** Wall time from request start to the end of the response and its waitUntil work, in milliseconds. Default 30 000. */
  wallMs: number;
  /**
   * Requests of the function running at once on the node (from admission to
   * the end of the response), past which a request is refused with 503
   * overloaded. 0: unlimited. Default 0. Enforced by the router's admission
   * control (router/admission.ts); the runtime does not read it.
   */
  concurrency: number;
  /** Requests of the function admitted per second on the node (a token bucket), past which 429 rate-limited. 0: unlimited. Default 0. Router only, like `concurrency`. */
  rps: number;
  /**
   * How long one of the function's WebSockets may stay open, in
   * milliseconds (the request's `wallMs` covers it until the 101); past it
   * the socket closes with 1011. Default 3 600 000 (1 hour); the node's
   * default is EDGEFN_WEBSOCKET_WALL_MS.
   */
  websocketWallMs: number;
  /**
   * Messages one WebSocket's client may send per second (a token bucket
   * holding one second's worth), past which the host closes the socket with
   * 1008 (policy violation). 0: unlimited. Default 0; the node's default is
   * EDGEFN_WEBSOCKET_MESSAGES_PER_SECOND. Enforced by the host's framing
   * (router/host/websocket.ts) before a message reaches the isolate.
   */
  websocketMessagesPerSecond: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({ cpuMs: 50, memoryMb: 128, wallMs: 30_000, concurrency: 0, rps: 0, websocketWallMs: 3_600_000, websocketMessagesPerSecond: 0 });

const BOUNDS: Record<keyof Limits, readonly [number, number]> = {
  cpuMs: [1, 30_000],
  memoryMb: [8, 4096],
  wallMs: [1, 15 * 60_000],
  // A function's own admission limits are at least 1 (leave the field out for
  // the node's default, which may be 0, unlimited); the tops are far past
  // what one node serves, so a typo's extra zeros are caught.
  concurrency: [1, 10_000],
  rps: [1, 100_000],
  // A second to a week (a socket past a day is a long-poll that forgot to
  // reconnect; a week still lets a deploy say "as long as the node allows").
  websocketWallMs: [1_000, 7 * 24 * 3_600_000],
  websocketMessagesPerSecond: [1, 100_000],
};

/** Limits that count requests, not time or bytes: whole numbers only. */
const INTEGER_LIMITS: ReadonlySet<keyof Limits> = new Set(['concurrency', 'rps', 'websocketMessagesPerSecond']);

export const LIMIT_NAMES = Object.keys(BOUNDS) as (keyof Limits)[];

/** Validate a partial limits object from user input; throws ERR_INVALID_INPUT naming the field. */
export function parseLimits(input: unknown, where = 'limits'): Partial<Limits> {
  if (input === undefined) return {};
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new EdgefnError('ERR_INVALID_INPUT', `${where} must be an object like { "cpuMs": 50, "memoryMb": 128, "wallMs": 30000 }`);
  }
  const out: Partial<Limits> = {};
  for (const [key, value] of Object.entries(input)) {
    const bounds = BOUNDS[key as keyof Limits];
    if (bounds === undefined) throw new EdgefnError('ERR_INVALID_INPUT', `${where}.${key} is not a known limit (known: ${LIMIT_NAMES.join(', ')})`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < bounds[0] || value > bounds[1]) {
      throw new EdgefnError('ERR_INVALID_INPUT', `${where}.${key} must be a number from ${bounds[0]} to ${bounds[1]}`);
    }
    if (INTEGER_LIMITS.has(key as keyof Limits) && !Number.isInteger(value)) {
      throw new EdgefnError('ERR_INVALID_INPUT', `${where}.${key} must be a whole number of ${key === 'websocketMessagesPerSecond' ? 'messages' : 'requests'} from ${bounds[0]} to ${bounds[1]}, got ${value}`);
    }
    out[key as keyof Limits] = value;
  }
  return out;
}

export function resolveLimits(defaults: Limits, own: Partial<Limits> | undefined): Limits {
  return { ...defaults, ...own };
}
