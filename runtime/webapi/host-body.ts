// A response body the host holds (a fetched response, a cache hit), streamed
// into the isolate a chunk at a time as the worker reads it: each pull asks
// the host for the next chunk, nothing is read ahead, and cancelling the
// stream tells the host to drop the rest.

import type { HostResult } from './bridge.ts';
import { promiseThen } from './intrinsics.ts';
import { streams } from './streams.ts';

export interface HostBody {
  stream: ReadableStream<Uint8Array>;
  /** Error the stream (an abort) unless it has already ended. */
  error(reason: unknown): void;
}

function ignore(): void {}

/**
 * `read` answers the next chunk (null at the end); `cancel` tells the host the
 * worker is done with the body. `first`: a chunk already in hand, given first.
 * `onEnd` runs once when the body ends, fails or is cancelled (not on error()).
 */
export function hostBody(read: () => Promise<HostResult>, cancel: () => Promise<unknown>, first: Uint8Array | null = null, onEnd: () => void = ignore): HostBody {
  let open = true;
  let controller: ReadableByteStreamController | undefined;
  const end = (): boolean => {
    if (!open) return false;
    open = false;
    first = null;
    onEnd();
    return true;
  };
  const stream = new (streams().ReadableStream)({
    type: 'bytes',
    start(c: ReadableByteStreamController) {
      controller = c;
    },
    pull(c: ReadableByteStreamController) {
      if (first !== null) {
        c.enqueue(first as Uint8Array<ArrayBuffer>);
        first = null;
        return undefined;
      }
      return promiseThen(
        read(),
        (result) => {
          if (!open) return;
          const chunk = result.value;
          if (chunk === null) {
            end();
            c.close();
            // A pending BYOB read must be answered after close (Streams §4.10.11).
            c.byobRequest?.respond(0);
          } else {
            c.enqueue(chunk as Uint8Array<ArrayBuffer>);
          }
        },
        (err: unknown) => {
          if (end()) c.error(err);
        },
      );
    },
    cancel() {
      end();
      return promiseThen(cancel(), ignore, ignore);
    },
  }) as ReadableStream<Uint8Array>;
  return {
    stream,
    error(reason: unknown): void {
      if (!open) return;
      open = false;
      first = null;
      try {
        controller?.error(reason);
      } catch {
        // already closed
      }
    },
  };
}
