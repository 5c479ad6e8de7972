import { defineCase } from '../case.ts';

// nodejs_compat on both sides. nodejs_compat_populate_process_env is edgefn's
// default and workerd's only from compatibility date 2025-04-01 (the suite
// runs at 2025-01-01), so it is given explicitly.
export default defineCase({
  name: 'node-compat',
  worker: 'node-compat.ts',
  compatibilityFlags: ['nodejs_compat', 'nodejs_compat_populate_process_env'],
  vars: () => ({ GREETING: 'hello from env' }),
  requests: [
    { name: 'node:buffer: base64, hex, concat, reads, encodings; Buffer global', path: '/buffer', status: 200, body_compared: 'json' },
    { name: 'node:events, node:util, node:path, node:url, node:string_decoder', path: '/modules', status: 200, body_compared: 'json' },
    { name: 'node:crypto: createHash, createHmac, timingSafeEqual', path: '/crypto', status: 200, body_compared: 'json' },
    { name: 'node:async_hooks: AsyncLocalStorage across awaits and timers, two runs interleaved', path: '/als', status: 200, body_compared: 'json' },
    { name: 'process.env from vars, process.nextTick', path: '/process', status: 200, body_compared: 'json' },
  ],
});
