// binaryType under the websocket_standard_binary_type compatibility flag:
// where each end of a pair starts, and what setting it does.

interface WorkersWebSocket extends WebSocket {
  accept(): void;
}
declare const WebSocketPair: new () => { 0: WorkersWebSocket; 1: WorkersWebSocket };

export default {
  fetch(): Response {
    const [client, server] = Object.values(new WebSocketPair()) as [WorkersWebSocket, WorkersWebSocket];
    const seen = [client.binaryType, server.binaryType];
    server.binaryType = 'arraybuffer';
    seen.push(server.binaryType);
    server.binaryType = 'nonsense' as BinaryType;
    seen.push(server.binaryType);
    server.binaryType = 'blob';
    seen.push(server.binaryType);
    return new Response(seen.join(' '));
  },
};
