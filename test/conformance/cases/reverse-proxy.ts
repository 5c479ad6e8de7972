import { defineCase } from '../case.ts';


export default defineCase({
  name: 'reverse-proxy',
  worker: 'reverse-proxy.ts',
  vars: ({ origin }) => ({ ORIGIN: origin }),
  requests: [
    { name: 'GET is forwarded with rewritten path, added headers and cookie stripped', path: '/api/users?page=2', headers: { 'x-client': 'c1', cookie: 'secret=1' }, status: 200, headers_compared: ['content-type', 'cache-control', 'x-origin', 'x-internal', 'x-proxied-by'], body_compared: 'json' },
    { name: 'POST body is forwarded', method: 'POST', path: '/api/submit', headers: { 'content-type': 'application/json' }, body: '{"a":1}', status: 200, body_compared: 'json' },
    { name: 'an origin 404 passes through with its body', path: '/api/missing', status: 404, headers_compared: ['content-type', 'x-internal', 'x-proxied-by'], body_compared: 'exact' },
    { name: 'an origin redirect is returned, not followed (redirect: manual)', path: '/api/moved', status: 302, headers_compared: ['location', 'x-proxied-by'] },
    // Needs no outbound fetch.
    { name: 'paths outside /api/ are answered by the worker', path: '/elsewhere', status: 404, body_compared: 'exact' },
  ],
});
