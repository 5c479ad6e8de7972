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
  /** How long a connection may take to send its first request head (ms), counted from its start. */
  headersTimeoutMs: number;
  /**
   * How long a readmitted connection (readmit) may take to send its next
   * request head (ms): an idle keep-alive connection keeps its idle life.
   * Default headersTimeoutMs.
   */
  readmitIdleMs?: number;
  /** Connections open at once; past it a new one is answered 503 too-many-connections and closed. */
  maxConnections: number;
  /**
   * Live connections one client address may hold; a connection past it is
   * answered 429 rate-limited and closed. 0 or absent: no cap.
   */
  maxConnectionsPerClient?: number;
}

/**
 * The data plane's server, and its way back in for a connection an isolate
 * host died holding: `readmit` reads that connection's next request head as
 * for a new connection and places it again. The bytes the dead host never
 * read are still in the kernel's socket buffer, which this process's
 * descriptor keeps alive.
 */
export type FrontDoor = Server & {
  /**
   * `closeIfSilent`: close the connection, answering nothing, if it has no
   * byte to read at once (the dead host may have read a request from it in
   * its last moments, or answered it whole: neither can be told from here,
   * and a 503 written after a whole response would be taken by the client as
   * the answer to its next request).
   */
  readmit(socket: Socket, closeIfSilent?: boolean): void;
};

/**
 * How long a readmitted connection with `closeIfSilent` has to show a byte (ms).
 * Bytes that waited in the socket buffer are read in the loop's next poll
 * phase; the check after this delay waits for one more poll (setImmediate
 * runs after it), since a process that was descheduled for longer than the
 * delay runs its expired timers before polling.
 */
const READMIT_SETTLE_MS = 20;

/** An HTTP/1 request line: what a readmitted connection's next bytes must start with. */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ HTTP\/1\.[01]\r\n$/;

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

/**
 * Why a first request head cannot be handed to a host, or undefined while it
 * may still be a valid one. `end` is the index of its CRLFCRLF, or -1 while
 * it has not arrived.
 */
function badHead(head: Buffer, end: number): [status: number, message: string] | undefined {
  const scanTo = end < 0 ? head.byteLength : end + 4;
  // A line ending in a bare LF: node:http refuses it on every later request
  // of a connection, and a head ended by LFs alone has no CRLFCRLF for this
  // reader to find, so it would wait for the headers timeout. Refused here.
  for (let i = head.indexOf(0x0a); i >= 0 && i < scanTo; i = head.indexOf(0x0a, i + 1)) {
    if (i === 0 || head[i - 1] !== 0x0d) return [400, 'a line of the request head ends in a bare LF; HTTP/1.1 lines end in CRLF'];
  }
  // node:http's limit too (--max-http-header-size), which later requests meet in the host.
  if ((end < 0 ? head.byteLength : end + 4) <= MAX_HEAD_BYTES) return undefined;
  const lineEnd = head.indexOf('\r\n');
  if (lineEnd < 0 || lineEnd > MAX_HEAD_BYTES) return [414, `the request line is longer than ${MAX_HEAD_BYTES} bytes`];
  return [431, `the request head is larger than ${MAX_HEAD_BYTES} bytes`];
}

/**
 * Answer a connection the front door will not serve: what the client sends
 * meanwhile is read and dropped (closing with unread bytes would reset the
 * connection and lose the answer), and the socket goes after a second
 * whatever the client does.
 */
function refuse(socket: Socket, response: string): void {
  socket.on('data', () => {});
  socket.end(response);
  setTimeout(() => socket.destroy(), 1000).unref();
}

export function createFrontDoor(options: FrontDoorOptions): FrontDoor {
  let open = 0;
  // Live connections per client address. A connection handed to a host is
  // still held here (its descriptor) until the host says it closed, so this
  // counts every connection the node serves, on whichever host.
  const perClient = new Map<string, number>();
  const cap = options.maxConnectionsPerClient ?? 0;
  const server = createServer({ noDelay: true }, (socket) => {
    open++;
    socket.once('close', () => open--);
    if (cap > 0) {
      const client = socket.remoteAddress ?? '';
      const n = perClient.get(client) ?? 0;
      if (n >= cap) {
        socket.on('error', () => {});
        refuse(socket, rawErrorResponse('ERR_RATE_LIMITED', `this client address already has ${cap} connections open to the node, its limit; close idle ones, or retry after 1 s`, undefined, 'retry-after: 1\r\n'));
        return;
      }
      perClient.set(client, n + 1);
      socket.once('close', () => {
        const left = (perClient.get(client) ?? 1) - 1;
        if (left === 0) perClient.delete(client);
        else perClient.set(client, left);
      });
    }
    socket.on('error', () => {});
    if (open > options.maxConnections) {
      refuse(socket, rawErrorResponse('ERR_TOO_MANY_CONNECTIONS', `this node holds ${options.maxConnections} client connections, its limit (EDGEFN_MAX_CONNECTIONS); retry later or reuse a connection`));
      return;
    }
    readHead(socket, options.headersTimeoutMs, false);
  });
  // accept() failing (EMFILE: out of descriptors) is reported as a server
  // error; unheard, it would end the process and every connection with it.
  server.on('error', (err) => process.stderr.write(`edgefn: data-plane server error: ${err.message}\n`));
  /**
   * Read the first request head off `socket` (or, when `readmitted`, the next
   * one, on a connection its dead host left behind), within `deadlineMs`, and
   * hand the connection on. `closeIfSilent`: see FrontDoor's readmit.
   */
  function readHead(socket: Socket, deadlineMs: number, readmitted: boolean, closeIfSilent = false): void {
    let head: Buffer | undefined;
    // A deadline from the connection's start, not an idle timer: a client
    // sending a byte a second (slow loris) would reset an idle timer forever.
    const deadline = setTimeout(() => {
      socket.off('data', onData);
      // A connection that never sent a byte gets no answer; a partial head gets a 408.
      if (head === undefined) socket.destroy();
      else refuse(socket, rawErrorResponse('ERR_REQUEST_TIMEOUT', `the request head did not arrive within ${deadlineMs} ms${readmitted ? '' : ' (EDGEFN_HEADERS_TIMEOUT_MS)'}`));
    }, deadlineMs);
    socket.once('close', () => clearTimeout(deadline));
    if (closeIfSilent) {
      setTimeout(() => {
        setImmediate(() => {
          if (head !== undefined || socket.destroyed) return;
          socket.off('data', onData);
          clearTimeout(deadline);
          socket.destroy();
        });
      }, READMIT_SETTLE_MS).unref();
    }
    const onData = (chunk: Buffer) => {
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      const bad = badHead(head, end);
      if (bad !== undefined) {
        socket.off('data', onData);
        clearTimeout(deadline);
        refuse(socket, rawErrorResponse('ERR_INVALID_INPUT', bad[1], bad[0]));
        return;
      }
      if (end < 0) return;
      socket.off('data', onData);
      clearTimeout(deadline);
      // The dead host may have read the start of this request (a head that
      // came in two segments, or a body): what is left is not a request.
      if (readmitted && !REQUEST_LINE.test(head.toString('latin1', 0, head.indexOf('\r\n') + 2))) {
        refuse(socket, rawErrorResponse('ERR_HOST_RESTART', 'the isolate host reading this request stopped; retry the request', undefined, 'retry-after: 1\r\n'));
        return;
      }
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
  }

  return Object.assign(server, {
    readmit(socket: Socket, closeIfSilent = false): void {
      if (socket.destroyed) return;
      // front-door.ts stopped the handle itself when it handed the socket over
      // (socket.pause() alone leaves node:net's reading flag set, so
      // resume() would not restart it).
      (socket as Socket & { _handle?: { readStart(): number } })._handle?.readStart();
      socket.resume();
      readHead(socket, options.readmitIdleMs ?? options.headersTimeoutMs, true, closeIfSilent);
    },
  });
}
