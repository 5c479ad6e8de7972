// The runtime's request API: plain data in, events out. The router speaks
// HTTP and IPC; the runtime only ever sees these shapes.

import type { EdgefnError } from './errors.ts';

export interface RuntimeRequest {
  method: string;
  /** Absolute URL as the worker should see it. */
  url: string;
  /** Flat [name, value, name, value, …] in the order the client sent them. */
  headers: string[];
  /** No body, the whole body, or 'stream' when chunks follow through RequestHandle.pushBody. */
  body: null | Uint8Array | 'stream';
  /** The request's id (the `edgefn-request-id` header); the function's log lines carry it. */
  requestId?: string | undefined;
}

export interface Timing {
  /** Time to make an isolate ready, when the function had no live one. */
  coldMs?: number | undefined;
  /** CPU time the request has used inside its isolate so far. */
  cpuMs: number;
  /** Outbound fetches the request made (redirects included); given to done(). */
  subrequests?: number | undefined;
}

export interface ResponseSink {
  /** body: the whole body, null for none, or 'stream' when chunk() calls follow and end() closes. */
  head(status: number, headers: string[], body: Uint8Array | null | 'stream', timing: Timing): void;
  /** A piece of a streamed body. Call the request's handle.ackResponse(n) once it is delivered: past RESPONSE_WINDOW_BYTES unacknowledged, the worker's stream is parked. */
  chunk(bytes: Uint8Array): void;
  end(): void;
  /** Before head(): answer with an error. After it: abort the response. */
  fail(err: EdgefnError, timing: Timing): void;
  /**
   * Room again for request body: after a handle.pushBody() answered false, the
   * runtime calls this once what it holds has fallen to at most half of
   * REQUEST_WINDOW_BYTES (the worker read it, cancelled the body, or the
   * request ended). Resume reading the socket. Called at most once per false.
   */
  pull?(): void;
  /** The request, its response and its waitUntil work are over; cpuMs is the final charge. */
  done?(timing: Timing): void;
  /**
   * The worker answered with status 101 and the client end of a
   * WebSocketPair (runtime/webapi/websocket.ts): complete the upgrade, with
   * the worker's response `headers`. From here the request lives on as the
   * socket: messages go out through socketSend, the worker's close through
   * socketClose, and what the client sends comes in through the handle's
   * socketMessage / socketClosed / socketError. Return false when this
   * request cannot be upgraded (it was not a WebSocket handshake): the
   * worker's socket then closes with 1006. Absent: no request can be.
   * `socket` carries the function's own bounds on the socket.
   */
  upgrade?(headers: string[], timing: Timing, socket: SocketLimits): boolean;
  /** A message from the worker on the upgraded socket: text as a string, binary as bytes. */
  socketSend?(data: string | Uint8Array): void;
  /** The worker closed the upgraded socket with `code` and `reason`. */
  socketClose?(code: number, reason: string): void;
}

/** A function's bounds on one of its upgraded sockets, from its limits. */
export interface SocketLimits {
  /** Messages per second the client may send (limits.websocketMessagesPerSecond); 0: unlimited. */
  messagesPerSecond: number;
}

/** Streamed response bytes a request may have sent and not yet had acknowledged (1 MB). */
export const RESPONSE_WINDOW_BYTES = 1024 * 1024;

/** Streamed request bytes the runtime holds for a request before pushBody asks the caller to wait (1 MB). */
export const REQUEST_WINDOW_BYTES = 1024 * 1024;

export interface RequestHandle {
  /**
   * The next chunk of a streamed request body; null ends it. Push chunks as
   * they arrive, without waiting to be asked: the runtime queues them and
   * hands the worker everything queued (up to 1 MB) in one step when it reads.
   * The runtime keeps a reference to `chunk` until then, so do not write to
   * its memory after pushing it.
   *
   * Returns true while the bytes queued and not yet taken by the worker are
   * below REQUEST_WINDOW_BYTES. False means: stop reading the socket until
   * sink.pull() is called. Once the request has finished, or the worker has
   * cancelled the body, this returns true and drops the bytes, so the caller
   * just drains the socket.
   */
  pushBody(chunk: Uint8Array | null): boolean;
  /** The client went away. */
  cancel(reason: string): void;
  /**
   * `bytes` of streamed response body have left for the client. The runtime
   * keeps at most RESPONSE_WINDOW_BYTES sent but unacknowledged per request,
   * and parks the worker's response stream past that.
   */
  ackResponse(bytes: number): void;
  /**
   * An upgraded request's socket (ResponseSink.upgrade): a message from the
   * client. Each one runs the worker's handlers as an entry with a CPU budget
   * of its own (the function's cpuMs), which the entries it leads to
   * (timers, host calls) then draw from.
   */
  socketMessage(data: string | Uint8Array): void;
  /** The upgraded socket had a protocol error (a close follows). */
  socketError(message: string): void;
  /** The upgraded socket is closed, by either side; the request finishes once the worker's waitUntil work settles. */
  socketClosed(code: number, reason: string, wasClean: boolean): void;
}
