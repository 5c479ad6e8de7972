// Streaming transforms: the request body through TextDecoderStream, an
// upper-casing TransformStream and TextEncoderStream into the response, plus
// a body produced chunk by chunk by a ReadableStream.

function upperCase(): TransformStream<string, string> {
  return new TransformStream<string, string>({
    transform(chunk, controller) {
      controller.enqueue(chunk.toUpperCase());
    },
  });
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/upper') {
      if (request.body === null) return new Response('no body', { status: 400 });
      const out = request.body.pipeThrough(new TextDecoderStream()).pipeThrough(upperCase()).pipeThrough(new TextEncoderStream());
      return new Response(out, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }
    if (url.pathname === '/count') {
      const n = Number(url.searchParams.get('n') ?? '5');
      let i = 0;
      const enc = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (i >= n) {
            controller.close();
            return;
          }
          controller.enqueue(enc.encode(`line ${i++}\n`));
        },
      });
      return new Response(stream, { headers: { 'content-type': 'text/plain' } });
    }
    if (url.pathname === '/bytes') {
      // Count request bytes as they stream in, including multi-byte UTF-8 split across chunks.
      let bytes = 0;
      let chunks = 0;
      const reader = request.body?.getReader();
      if (reader === undefined) return Response.json({ bytes, chunks });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        chunks++;
      }
      return Response.json({ bytes, sawChunks: chunks > 0 });
    }
    if (url.pathname === '/tee') {
      const [a, b] = (request.body ?? new Response('').body!).tee();
      const [ta, tb] = await Promise.all([new Response(a).text(), new Response(b).text()]);
      return Response.json({ same: ta === tb, length: ta.length });
    }
    return new Response('not found', { status: 404 });
  },
};
