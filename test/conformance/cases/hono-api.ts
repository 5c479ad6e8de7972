import { createHash } from 'node:crypto';
import { defineCase } from '../case.ts';

const json = { 'content-type': 'application/json' };
const CORS = ['access-control-allow-origin', 'access-control-expose-headers', 'vary'] as const;

export default defineCase({
  name: 'hono-api',
  worker: 'hono-api.ts',
  vars: () => ({ API_NAME: 'inventory' }),
  requests: [
    { name: 'GET / reads env through c.env', path: '/', status: 200, headers_compared: ['content-type', 'x-item-count'], body_compared: 'json' },
    { name: 'GET /items is empty at first', path: '/items', status: 200, body_compared: 'json' },
    { name: 'POST /items creates with 201 and Location', method: 'POST', path: '/items', headers: json, body: JSON.stringify({ name: 'widget', price: 9.5 }), status: 201, headers_compared: ['location', 'content-type', 'x-item-count'], body_compared: 'json' },
    { name: 'POST /items creates a second item', method: 'POST', path: '/items', headers: json, body: JSON.stringify({ name: 'gadget', price: 20 }), status: 201, headers_compared: ['location'], body_compared: 'json' },
    { name: 'POST /items with invalid fields answers 422 with issues', method: 'POST', path: '/items', headers: json, body: JSON.stringify({ name: '', price: -1 }), status: 422, body_compared: 'json' },
    { name: 'POST /items with malformed JSON answers 400', method: 'POST', path: '/items', headers: json, body: '{"name":', status: 400, body_compared: 'json' },
    { name: 'GET /items?min= filters by query', path: '/items?min=10', status: 200, body_compared: 'json' },
    { name: 'GET /items/1 returns the item', path: '/items/1', status: 200, body_compared: 'json' },
    { name: 'PUT /items/1 replaces the item', method: 'PUT', path: '/items/1', headers: json, body: JSON.stringify({ name: 'widget v2', price: 11 }), status: 200, body_compared: 'json' },
    { name: 'DELETE /items/2 answers 204 with no body', method: 'DELETE', path: '/items/2', status: 204, headers_compared: ['content-type', 'x-item-count'], body_compared: 'exact' },
    { name: 'GET /items/2 after delete: HTTPException 404 through onError', path: '/items/2', status: 404, body_compared: 'json' },
    { name: 'GET /items lists what is left', path: '/items', status: 200, headers_compared: ['x-item-count'], body_compared: 'json' },
    { name: 'unknown route goes to notFound', path: '/nope/deeper', status: 404, body_compared: 'json' },
    { name: 'non-numeric id does not match the route pattern', path: '/items/abc', status: 404, body_compared: 'json' },
    { name: 'a thrown Error goes to onError as 500 JSON', path: '/boom', status: 500, headers_compared: ['content-type'], body_compared: 'json' },
    { name: 'CORS: simple request from an allowed origin', path: '/items', headers: { origin: 'https://app.example' }, status: 200, headers_compared: CORS, body_compared: 'json' },
    { name: 'CORS: disallowed origin gets no allow-origin', path: '/items', headers: { origin: 'https://evil.example' }, status: 200, headers_compared: CORS, body_compared: 'json' },
    {
      name: 'CORS: preflight answers 204 with allowed methods and max-age',
      method: 'OPTIONS',
      path: '/items',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
      status: 204,
      headers_compared: [...CORS, 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age'],
      body_compared: 'exact',
    },
    { name: 'etag: response carries an ETag', path: '/tagged/greeting', status: 200, headers_compared: ['etag', 'content-type'], body_compared: 'exact' },
    {
      name: 'etag: If-None-Match with the current tag answers 304',
      path: '/tagged/greeting',
      // hono/etag's tag is the quoted hex SHA-1 of the body.
      headers: { 'if-none-match': `"${createHash('sha1').update('hello from inventory').digest('hex')}"` },
      status: 304,
      headers_compared: ['etag'],
      body_compared: 'exact',
    },
  ],
});
