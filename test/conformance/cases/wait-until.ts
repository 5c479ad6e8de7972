import { defineCase } from '../case.ts';

export default defineCase({
  name: 'wait-until',
  worker: 'wait-until.ts',
  requests: [
    { name: 'the response is sent before waitUntil work runs', path: '/start?tag=first', status: 200, body_compared: 'json' },
    { name: 'a later request observes the waitUntil side effect', path: '/log', delay_ms: 150, status: 200, body_compared: 'json' },
    { name: 'a rejected waitUntil promise does not affect later requests', path: '/start?tag=second', status: 200, body_compared: 'json' },
    { name: 'both background tasks completed', path: '/log', delay_ms: 150, status: 200, body_compared: 'json' },
  ],
});
