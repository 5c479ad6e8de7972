// The data plane's listening socket. It accepts each TCP connection, reads
// just enough of the first request head to find its Host, and hands the
// connection (and the bytes already read) to the isolate host chosen for that
// function. The host then parses HTTP on it and answers directly, so warm
// requests never cross a process boundary (a Node IPC round trip costs
// ~0.1 ms here, more than a hello-world request itself).

import { createServer, type Server, type Socket } from 'node:net';
import { rawErrorResponse } from './http-errors.ts';

/** Largest first request head read before the connection is handed over (bytes); node:http's own limit is the same. */
const MAX_HEAD_BYTES = 16 * 1024;

export interface FrontDoorOptions {
  /** Function key (name@version) for a Host header value and request target, or '' when they name none. */
  keyFor(host: string | undefined, target: string): string;
  adopt(socket: Socket, head: Uint8Array, key: string): void;
  /**
   * A taker for connections this process serves itself instead of an isolate
   * host (a cluster node's forwarder, for functions placed in other regions),
   * or undefined to hand the connection to a host as usual.
   */
  divert?(host: string | undefined, target: string): ((socket: Socket, head: Uint8Array) => void) | undefined;
  /** How long a connection may take to send its first request head (ms). */
  headersTimeoutMs: number;
}

/** The request target of a request head's first line (`/path?query` mostly). */
export function requestTarget(head: Buffer): string {
  const eol = head.indexOf('\r\n');
  const first = head.indexOf(0x20);
  if (first < 0 || first > eol) return '/';
  let second = head.indexOf(0x20, first + 1);
  if (second < 0 || second > eol) second = eol;
  return head.toString('latin1', first + 1, second);
}

/** The value of the first Host header in a request head, as node:http would read it. */
export function hostHeader(head: Buffer, end: number): string | undefined {
  let i = head.indexOf('\r\n') + 2;
  while (i > 1 && i < end) {
    const eol = head.indexOf('\r\n', i);
    if (eol < 0 || eol > end) return undefined;
    // "host:" in any case: 'h' 'o' 's' 't' ':' with the 0x20 bit masked.
    if (eol - i > 5 && (head[i]! | 0x20) === 0x68 && (head[i + 1]! | 0x20) === 0x6f && (head[i + 2]! | 0x20) === 0x73 && (head[i + 3]! | 0x20) === 0x74 && head[i + 4] === 0x3a) {
      return head.toString('latin1', i + 5, eol).trim();
    }
    i = eol + 2;
  }
  return undefined;
}

export function createFrontDoor(options: FrontDoorOptions): Server {
  return createServer({ noDelay: true }, (socket) => {
    let head: Buffer | undefined;
    socket.setTimeout(options.headersTimeoutMs, () => socket.destroy());
    socket.on('error', () => {});
    const onData = (chunk: Buffer) => {
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.byteLength > MAX_HEAD_BYTES) {
          socket.off('data', onData);
          socket.end(rawErrorResponse('ERR_INVALID_INPUT', `the request head is larger than ${MAX_HEAD_BYTES} bytes`, 431));
        }
        return;
      }
      socket.off('data', onData);
      socket.setTimeout(0);
      const host = hostHeader(head, end + 2);
      const taker = options.divert?.(host, requestTarget(head));
      if (taker !== undefined) {
        taker(socket, new Uint8Array(head.buffer, head.byteOffset, head.byteLength));
        return;
      }
      // From here the socket is the host's: this process reads nothing more
      // from it. It keeps the descriptor only to answer for a host that dies.
      socket.pause();
      (socket as Socket & { _handle?: { readStop(): number } })._handle?.readStop();
      options.adopt(socket, new Uint8Array(head.buffer, head.byteOffset, head.byteLength), options.keyFor(host, requestTarget(head)));
    };
    socket.on('data', onData);
  });
}
