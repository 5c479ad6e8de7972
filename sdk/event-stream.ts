// A reader of text/event-stream bodies (the HTML standard's Server-Sent
// Events, §9.2.6), for the control API's log tail. Only global Web APIs:
// it runs wherever the API client does.

export interface ServerSentEvent {
  /** The `event` field; "message" when none was given. */
  event: string;
  data: string;
  /** The `id` field, if the event set one. */
  id: string | undefined;
}

/**
 * The events of `body` as they arrive. `onActivity` is called for every
 * chunk received, comments (heartbeats) included, so a caller can tell a
 * quiet stream from a dead connection.
 */
export async function* readEventStream(body: ReadableStream<Uint8Array>, onActivity?: () => void): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let id: string | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onActivity?.();
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        // A CR at the end may be the first half of a CRLF still on its way.
        if (buffer[nl] === '\r' && nl === buffer.length - 1) break;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(buffer.startsWith('\r\n', nl) ? nl + 2 : nl + 1);
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
          data = [];
          event = '';
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
    }
  } finally {
    // The caller stopped early (or the connection broke): let the connection go.
    await reader.cancel().catch(() => {});
  }
}
