// A function's log as a Server-Sent Events stream (the control API's
// GET /v1/functions/{name}/logs/tail): every kept line after the reader's
// cursor first, then each new line as the front door receives it, with a
// comment line as heartbeat so idle proxies keep the connection and a reader
// can tell a quiet function from a dead connection. Each event's `id` is the
// line's cursor, so an EventSource (or `edgefn tail`) that reconnects with
// Last-Event-ID resumes exactly where it stopped, as long as the lines are
// still kept (the log is bounded in bytes, see function-logs.ts).

import type { LogEntry } from '../sdk/wire.ts';

/** A reader that lets this much stay unread is cut off (it reconnects with Last-Event-ID), bytes. */
const MAX_UNREAD_BYTES = 1024 * 1024;

export interface LogTailOptions {
  /** Lines to send first (those after the reader's cursor). */
  backlog: LogEntry[];
  /** Subscribe to new lines; returns the unsubscribe. */
  subscribe(listener: (entry: LogEntry) => void): () => void;
  /** Time between heartbeats, ms. */
  heartbeatMs: number;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

export function logTailResponse(options: LogTailOptions): Response {
  const encoder = new TextEncoder();
  let stop: () => void = () => {};
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let open = true;
        const send = (text: string) => {
          if (!open) return;
          if ((controller.desiredSize ?? 0) < -MAX_UNREAD_BYTES) {
            stop();
            controller.close();
            return;
          }
          controller.enqueue(encoder.encode(text));
        };
        const event = (e: LogEntry) => send(`id: ${e.id ?? ''}\nevent: log\ndata: ${JSON.stringify(e)}\n\n`);
        // `retry`: how soon an EventSource reconnects after a drop, ms.
        send(`retry: 1000\n: edgefn log tail ${new Date().toISOString()}\n\n`);
        // Backlog and subscription happen in one synchronous run, so no line
        // can fall between them.
        for (const e of options.backlog) event(e);
        const unsubscribe = options.subscribe(event);
        const heartbeat = setInterval(() => send(`: heartbeat ${new Date().toISOString()}\n\n`), options.heartbeatMs);
        heartbeat.unref();
        stop = () => {
          if (!open) return;
          open = false;
          clearInterval(heartbeat);
          unsubscribe();
        };
        options.signal.addEventListener('abort', () => {
          stop();
          try {
            controller.close();
          } catch {
            // already closed or cancelled
          }
        });
      },
      cancel() {
        stop();
      },
    },
    { highWaterMark: MAX_UNREAD_BYTES, size: (chunk) => chunk.byteLength },
  );
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // Tells nginx not to buffer the stream.
      'x-accel-buffering': 'no',
    },
  });
}
