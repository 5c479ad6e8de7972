import { defineCase } from '../case.ts';

// Long enough to arrive in several chunks, with multi-byte characters.
const LONG = Array.from({ length: 2000 }, (_, i) => `zeile ${i}: grüße ßtraße ✓ `).join('\n');

export default defineCase({
  name: 'streaming',
  worker: 'streaming.ts',
  requests: [
    { name: 'upper-cases a short body through TextDecoderStream → TransformStream → TextEncoderStream', method: 'POST', path: '/upper', body: 'hello, stream', status: 200, headers_compared: ['content-type'], body_compared: 'exact' },
    { name: 'upper-cases a long multi-byte body (ß becomes SS)', method: 'POST', path: '/upper', body: LONG, status: 200, body_compared: 'exact' },
    { name: 'a GET has no body to transform', path: '/upper', status: 400, body_compared: 'exact' },
    { name: 'a pull-based ReadableStream response', path: '/count?n=7', status: 200, headers_compared: ['content-type'], body_compared: 'exact' },
    { name: 'reading the request body with a reader counts every byte', method: 'POST', path: '/bytes', body: LONG, status: 200, body_compared: 'json' },
    { name: 'tee() of the request body yields the same text twice', method: 'PUT', path: '/tee', body: LONG, status: 200, body_compared: 'json' },
  ],
});
