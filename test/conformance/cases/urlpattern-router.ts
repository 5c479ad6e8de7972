import { defineCase } from '../case.ts';

export default defineCase({
  name: 'urlpattern-router',
  worker: 'urlpattern-router.ts',
  requests: [
    { name: 'a regexp-constrained param wins for digits', path: '/users/42', status: 200, body_compared: 'json' },
    { name: 'the next route takes what the regexp refused', path: '/users/ada', status: 200, body_compared: 'json' },
    { name: 'a wildcard captures the rest of the path', path: '/files/a/b/c.txt', status: 200, body_compared: 'json' },
    { name: 'a search pattern extracts a query parameter', path: '/search?q=edge&page=2', status: 200, body_compared: 'json' },
    { name: 'an optional group matches with its part', path: '/v2/status', status: 200, body_compared: 'json' },
    {
      name: 'an optional group matches without its part',
      path: '/status',
      status: 200,
      body_compared: 'json',
      json_divergences: { major: 'workerd gives an unmatched optional group as ""; the URL Pattern Standard (and WPT urlpattern) gives undefined, as urlpattern-polyfill and Chrome do' },
    },
    { name: 'a POST route with an alternation param echoes JSON', method: 'POST', path: '/echo/json', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}', status: 200, body_compared: 'json' },
    {
      name: 'pattern strings, hostname groups, inputs and errors',
      path: '/patterns',
      status: 200,
      body_compared: 'json',
      json_divergences: { hasRegExpGroups: 'workerd has no URLPattern.hasRegExpGroups; the URL Pattern Standard added it in 2024 and urlpattern-polyfill has it' },
    },
    { name: 'no route matches', path: '/nowhere', status: 404, body_compared: 'json' },
  ],
});
