import { defineCase } from '../case.ts';

export default defineCase({
  name: 'itty-router',
  worker: 'itty-router.ts',
  requests: [
    { name: 'route params, query and a before-middleware', path: '/hello/ada?lang=fr', headers: { 'x-user': 'root' }, status: 200, headers_compared: ['content-type'], body_compared: 'json' },
    { name: 'percent-encoded param', path: '/hello/j%C3%BCrgen', status: 200, body_compared: 'json' },
    { name: 'a returned Response passes through as it is', path: '/text', status: 200, headers_compared: ['content-type'], body_compared: 'exact' },
    { name: 'POST JSON body is parsed and echoed', method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{"list":[1,2,{"deep":true}]}', status: 200, body_compared: 'json' },
    { name: 'StatusError becomes a JSON error with its status', path: '/forbidden', status: 403, headers_compared: ['content-type'], body_compared: 'json' },
    { name: 'greedy param captures the rest of the path', path: '/files/a/b/c.txt', status: 200, body_compared: 'json' },
    { name: 'all() matches any method', method: 'PATCH', path: '/any', status: 200, body_compared: 'json' },
    { name: 'missing handler answers the custom 404', path: '/does-not-exist', status: 404, body_compared: 'json' },
  ],
});
