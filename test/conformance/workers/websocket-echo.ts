// A WebSocket echo as Workers writes one: the pair, accept(), text and
// binary back, and a close with a code and reason when asked. The socket
// conversation itself is compared by conformance.test.ts ('WebSocket echo');
// the plain request below is a case like the others.

// Workers' additions to the Web types (the webworker lib has none of them).
interface WorkersWebSocket extends WebSocket {
  accept(): void;
}
declare const WebSocketPair: new () => { 0: WorkersWebSocket; 1: WorkersWebSocket };

export default {
  async fetch(request: Request, env: { ORIGIN: string }): Promise<Response> {
    const path = new URL(request.url).pathname;
    // The origin's socket handed to the client as it came from fetch(), or in a new 101 Response.
    if (path === '/proxy') return fetch(`${env.ORIGIN}/ws`, { headers: { Upgrade: 'websocket' } });
    if (path === '/proxy-wrap') {
      const r = await fetch(`${env.ORIGIN}/ws`, { headers: { Upgrade: 'websocket' } });
      return new Response(null, { status: 101, webSocket: (r as Response & { webSocket: WebSocket }).webSocket, headers: { 'x-wrapped': 'yes' } } as ResponseInit);
    }
    if (request.headers.get('upgrade') !== 'websocket') return new Response('expected a WebSocket upgrade\n', { status: 426, headers: { 'content-type': 'text/plain' } });
    const [client, server] = Object.values(new WebSocketPair()) as [WorkersWebSocket, WorkersWebSocket];
    server.accept();
    server.addEventListener('message', (e: MessageEvent) => {
      const d: unknown = e.data;
      if (d === 'close please') server.close(4001, 'asked to');
      else if (d === 'binary type') {
        // The default, an unknown value (ignored, not thrown), then 'blob' for the messages after this one.
        const initial = server.binaryType;
        server.binaryType = 'nonsense' as BinaryType;
        const afterUnknown = server.binaryType;
        server.binaryType = 'blob';
        server.send(`binaryType:${initial},${afterUnknown},${server.binaryType}`);
      } else if (d === 'send a blob') {
        // What a Blob becomes on the wire (send() takes a string or bytes).
        server.send(new Blob(['abc'], { type: 'text/plain' }) as unknown as string);
      } else if (d instanceof Blob) {
        void d.arrayBuffer().then((b) => server.send(`blob:${d.size}:${JSON.stringify(d.type)}:${[...new Uint8Array(b)].join(',')}`));
      } else if (typeof d === 'string') server.send(`echo:${d}`);
      else server.send(new Uint8Array(d as ArrayBuffer).reverse());
    });
    server.addEventListener('close', (e: CloseEvent) => {
      // Both runtimes deliver the client's close to the worker; nothing is sent after it.
      void e.code;
    });
    server.send('hello');
    return new Response(null, { status: 101, webSocket: client } as ResponseInit);
  },
};
