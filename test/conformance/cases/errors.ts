import { defineCase } from '../case.ts';

// Error responses differ by design (edgefn: `edgefn-error: exception`;
// workerd: its own page), so only status is compared for uncaught failures.
export default defineCase({
  name: 'errors',
  worker: 'errors.ts',
  requests: [
    { name: 'a synchronous throw answers 500', path: '/throw', status: 500, body_compared: 'ignore' },
    { name: 'a rejected promise answers 500', path: '/reject', status: 500, body_compared: 'ignore' },
    { name: 'a throw after an await answers 500', path: '/async-throw', status: 500, body_compared: 'ignore' },
    { name: 'returning something that is not a Response answers 500', path: '/not-a-response', status: 500, body_compared: 'ignore' },
    { name: 'a caught error is an ordinary response', path: '/caught', status: 400, body_compared: 'json' },
    { name: 'new Response with status 99 throws RangeError', path: '/bad-status', status: 422, body_compared: 'json' },
    { name: 'the worker still answers after failures', path: '/fine', status: 200, body_compared: 'exact' },
  ],
});
