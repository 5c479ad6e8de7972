// The prelude's side of WebSockets. websocket.ts is a lazy module
// (runtime/prelude.ts, LAZY_MODULES): its code is evaluated in an isolate
// when its worker first touches WebSocket or WebSocketPair, or makes a
// fetch() upgrade. The prelude's code that deals with sockets (dispatch,
// Response, fetch, the socketEvent entry) calls through here; until the
// module has loaded, no socket can exist, so there is nothing to do.

import { providedIfLoaded, required } from './lazy.ts';
import type { WebSocket } from './websocket.ts';

export interface WebSocketModule {
  isWebSocket(value: unknown): boolean;
  bindSocket(client: unknown, id: number, gone: () => void): string | undefined;
  flushSocket(id: number): void;
  socketEvent(id: number, kind: string, a: unknown, b: unknown, c: unknown): void;
  socketGone(id: number, code: number, reason: string, wasClean: boolean): void;
  connectForFetch(url: string, headers: string[]): Promise<WebSocket>;
  fetchUpgradeHeaders(ws: WebSocket): [string, string][];
}

/** A new socket's binaryType: 'blob' with the websocket_standard_binary_type flag (install sets it), else 'arraybuffer'. */
let binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';

function loaded(): WebSocketModule {
  return required<WebSocketModule>('websocket');
}

/** The module if it has loaded; before, no socket can exist. */
function ifLoaded(): WebSocketModule | undefined {
  return providedIfLoaded<WebSocketModule>('websocket');
}

export function setDefaultBinaryType(value: 'arraybuffer' | 'blob'): void {
  binaryType = value;
}

export function defaultBinaryType(): 'arraybuffer' | 'blob' {
  return binaryType;
}

/** Whether `value` is a WebSocket a Response may carry (response.ts's check of `webSocket`). */
export function isWebSocket(value: unknown): boolean {
  return ifLoaded()?.isWebSocket(value) === true;
}

/** websocket.ts's bindSocket: the worker answered request `id` with a 101 carrying `client`. */
export function bindSocket(client: unknown, id: number, gone: () => void): string | undefined {
  return loaded().bindSocket(client, id, gone);
}

export function flushSocket(id: number): void {
  ifLoaded()?.flushSocket(id);
}

/** Entry: something happened on request `id`'s socket (websocket.ts's socketEvent). */
export function socketEvent(id: number, kind: string, a: unknown, b: unknown, c: unknown): void {
  ifLoaded()?.socketEvent(id, kind, a, b, c);
}

export function socketGone(id: number, code: number, reason: string, wasClean: boolean): void {
  ifLoaded()?.socketGone(id, code, reason, wasClean);
}

/** A fetch() with `Upgrade: websocket`: dial `url` (websocket.ts's connectForFetch). */
export function connectForFetch(url: string, headers: string[]): Promise<WebSocket> {
  return loaded().connectForFetch(url, headers);
}

export function fetchUpgradeHeaders(ws: WebSocket): [string, string][] {
  return loaded().fetchUpgradeHeaders(ws);
}
