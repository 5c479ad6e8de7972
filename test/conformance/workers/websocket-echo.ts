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
  fetch(request: Request): Response {
    if (request.headers.get('upgrade') !== 'websocket') return new Response('expected a WebSocket upgrade\n', { status: 426, headers: { 'content-type': 'text/plain' } });
    const [client, server] = Object.values(new WebSocketPair()) as [WorkersWebSocket, WorkersWebSocket];
    server.accept();
    server.addEventListener('message', (e: MessageEvent) => {
      if (e.data === 'close please') server.close(4001, 'asked to');
      else if (typeof e.data === 'string') server.send(`echo:${e.data}`);
      else server.send(new Uint8Array(e.data as ArrayBuffer).reverse());
    });
    server.addEventListener('close', (e: CloseEvent) => {
      // Both runtimes deliver the client's close to the worker; nothing is sent after it.
      void e.code;
    });
    server.send('hello');
    return new Response(null, { status: 101, webSocket: client } as ResponseInit);
  },
};
