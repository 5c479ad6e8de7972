import { defineCase } from '../case.ts';

export default defineCase({
  name: 'cache-aside',
  worker: 'cache-aside.ts',
  requests: [
    { name: 'a miss makes the response and puts it', path: '/page?op=aside', status: 200 },
    { name: 'the next request is answered from the cache', path: '/page?op=aside', status: 200 },
    { name: 'a hit keeps the stored status and headers', path: '/page?op=report', status: 200, body_compared: 'json' },
    { name: 'a named cache is apart from caches.default', path: '/page?op=report&named', status: 200, body_compared: 'json' },
    { name: 'match of a POST finds nothing unless ignoreMethod', path: '/page?op=post-match', status: 200, body_compared: 'json' },
    { name: 'delete removes the entry and says so', path: '/page?op=delete', status: 200, body_compared: 'json' },
    { name: 'after delete it is a miss, and a second delete says false', path: '/page?op=delete', status: 200, body_compared: 'json' },
    { name: 'Cache-Control: no-store is not stored', path: '/ns?op=no-store', status: 200, body_compared: 'json' },
    { name: 'a response with Set-Cookie is not stored', path: '/sc?op=cookie', status: 200, body_compared: 'json' },
    { name: 'put refuses non-GET requests, 206 and Vary: * with TypeErrors', path: '/bad?op=refused', status: 200, body_compared: 'json' },
  ],
});
