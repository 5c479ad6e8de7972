// A router built on URLPattern, the way Workers apps route without a framework:
// each route a pattern over the request URL, the first match wins, its groups
// become parameters.

// Types only: TypeScript's WebWorker lib does not declare URLPattern yet; the
// polyfill's declarations describe the standard's (less hasRegExpGroups).
import type {} from 'urlpattern-polyfill';

type URLPatternInput = URLPatternInit | string;

interface Match {
  pathname: Record<string, string | undefined>;
  search: Record<string, string | undefined>;
  hostname: Record<string, string | undefined>;
}

type Handler = (request: Request, m: Match) => Response | Promise<Response>;

const routes: Array<{ method: string; pattern: URLPattern; handler: Handler }> = [];

function route(method: string, pattern: URLPatternInput, handler: Handler): void {
  routes.push({ method, pattern: new URLPattern(pattern), handler });
}

route('GET', { pathname: '/users/:id(\\d+)' }, (_req, m) => Response.json({ user: Number(m.pathname['id']) }));
route('GET', { pathname: '/users/:name' }, (_req, m) => Response.json({ name: m.pathname['name'] }));
route('GET', { pathname: '/files/*' }, (_req, m) => Response.json({ path: m.pathname['0'] }));
route('GET', { pathname: '/search', search: 'q=:q&*' }, (_req, m) => Response.json({ q: m.search['q'] }));
route('GET', { pathname: '{/v:major}?/status' }, (_req, m) => Response.json({ route: 'status', major: m.pathname['major'] ?? null }));
route('POST', { pathname: '/echo/:kind(json|text)' }, async (req, m) => (m.pathname['kind'] === 'json' ? Response.json(await req.json()) : new Response(await req.text())));
route('GET', { pathname: '/patterns' }, () => {
  const p = new URLPattern({ pathname: '/books/:id', hostname: '{:sub.}?example.com' });
  const exec = p.exec('https://api.example.com/books/7?x');
  return Response.json({
    pathname: p.pathname,
    hostname: p.hostname,
    protocol: p.protocol,
    hasRegExpGroups: (p as URLPattern & { hasRegExpGroups: boolean }).hasRegExpGroups,
    groups: [exec?.pathname.groups, exec?.hostname.groups],
    inputs: exec?.inputs,
    noMatch: p.exec('https://example.org/books/7'),
    fromString: new URLPattern('https://:host.example.com/a/:b').exec('https://x.example.com/a/c')?.hostname.groups,
    invalid: (() => {
      try {
        new URLPattern({ pathname: '/(' });
        return 'ok';
      } catch (e) {
        return e instanceof TypeError ? 'TypeError' : 'other';
      }
    })(),
  });
});

export default {
  async fetch(request: Request): Promise<Response> {
    for (const r of routes) {
      if (r.method !== request.method) continue;
      const m = r.pattern.exec(request.url);
      if (m === null) continue;
      return r.handler(request, { pathname: m.pathname.groups, search: m.search.groups, hostname: m.hostname.groups });
    }
    return Response.json({ error: 'not found' }, { status: 404 });
  },
};
