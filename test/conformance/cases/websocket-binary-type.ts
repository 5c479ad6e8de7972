import { defineCase } from '../case.ts';

export default defineCase({
  name: 'websocket-binary-type',
  worker: 'websocket-binary-type.ts',
  // workerd's flag (on by default from its spring-2026 compatibility dates; the suite's date is earlier).
  compatibilityFlags: ['websocket_standard_binary_type'],
  requests: [{ name: 'with websocket_standard_binary_type a socket’s binaryType starts at "blob" and takes only its two values', path: '/', status: 200, body_compared: 'exact' }],
});
