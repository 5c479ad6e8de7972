import { defineCase } from '../case.ts';

export default defineCase({
  name: 'websocket-echo',
  worker: 'websocket-echo.ts',
  // The origin's WebSocket, which /proxy and /proxy-wrap hand to the client (conformance.test.ts: 'WebSocket proxy').
  vars: ({ origin }) => ({ ORIGIN: origin }),
  requests: [
    // The socket conversation is compared in conformance.test.ts ('WebSocket echo'), over a real upgrade on both sides.
    { name: 'a plain request to a WebSocket worker gets its 426', path: '/', status: 426, headers_compared: ['content-type'] },
  ],
});
