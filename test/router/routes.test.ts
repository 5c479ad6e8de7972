// Custom routes: host/path patterns that lead to functions besides
// <name>.<base domain>. The table's precedence rules are checked directly;
// the rest against a real node, the way a client reaches it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { normalizeHost, parseRoutePattern, parseRoutes, RouteTable, targetPath } from '../../router/route-table.ts';
import { hostFetch, startNode, type StartedNode } from '../helpers/node.ts';
import { run } from '../../sdk/cli/run.ts';

describe('RouteTable', () => {
  it('prefers an exact host over a wildcard host, and a wildcard over the catch-all', () => {
    const t = new RouteTable();
    t.set('any', ['*/*']);
    t.set('wild', ['*.example.com/*']);
    t.set('api', ['api.example.com/*']);
    expect(t.match('api.example.com', '/x')).toBe('api');
    expect(t.match('API.Example.com:8080', '/x')).toBe('api');
    expect(t.match('www.example.com', '/x')).toBe('wild');
    expect(t.match('a.b.example.com', '/x')).toBe('wild');
    // `*.example.com` is subdomains only, not the apex.
    expect(t.match('example.com', '/x')).toBe('any');
    expect(t.match('other.org', '/')).toBe('any');
    expect(t.match(undefined, '/')).toBe('any');
  });

  it('prefers the most specific wildcard suffix', () => {
    const t = new RouteTable();
    t.set('outer', ['*.example.com/*']);
    t.set('inner', ['*.eu.example.com/*']);
    expect(t.match('x.eu.example.com', '/')).toBe('inner');
    expect(t.match('eu.example.com', '/')).toBe('outer');
  });

  it('prefers an exact path over any prefix, and a longer prefix over a shorter one', () => {
    const t = new RouteTable();
    t.set('site', ['example.com/*']);
    t.set('blog', ['example.com/blog/*']);
    t.set('drafts', ['example.com/blog/drafts/*']);
    t.set('exact', ['example.com/blog/drafts/special']);
    expect(t.match('example.com', '/')).toBe('site');
    expect(t.match('example.com', '/blog')).toBe('site');
    expect(t.match('example.com', '/blog/')).toBe('blog');
    expect(t.match('example.com', '/blog/post?x=/blog/drafts/')).toBe('blog');
    expect(t.match('example.com', '/blog/drafts/1')).toBe('drafts');
    expect(t.match('example.com', '/blog/drafts/special')).toBe('exact');
    expect(t.match('example.com', '/blog/drafts/special?q=1')).toBe('exact');
    expect(t.match('example.com', '/blog/drafts/special/more')).toBe('drafts');
  });

  it('falls through to a less specific host when the specific one has no matching path', () => {
    const t = new RouteTable();
    t.set('v1', ['api.example.com/v1/*']);
    t.set('wild', ['*.example.com/*']);
    expect(t.match('api.example.com', '/v1/users')).toBe('v1');
    expect(t.match('api.example.com', '/v2/users')).toBe('wild');
    expect(t.match('nothing.org', '/')).toBeUndefined();
  });

  it('replaces and removes a function’s routes, and names who holds a pattern', () => {
    const t = new RouteTable();
    t.set('a', ['a.example.com/*', 'example.com/a']);
    expect(t.owner('example.com/a')).toBe('a');
    expect(t.conflict('b', ['x.org/*', 'example.com/a'])).toEqual({ pattern: 'example.com/a', owner: 'a' });
    expect(t.conflict('a', ['example.com/a'])).toBeUndefined();
    t.set('a', ['example.com/a']);
    expect(t.match('a.example.com', '/')).toBeUndefined();
    t.delete('a');
    expect(t.match('example.com', '/a')).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it('reads the path of origin-form and absolute-form targets, and the host without its port', () => {
    expect(targetPath('/a/b?c=d')).toBe('/a/b');
    expect(targetPath('http://example.com/a?x')).toBe('/a');
    expect(targetPath('http://example.com')).toBe('/');
    expect(normalizeHost('Example.COM.:443')).toBe('example.com');
    expect(normalizeHost('[::1]')).toBe('[::1]');
  });

  it('normalizes patterns and refuses malformed ones with the reason', () => {
    expect(parseRoutePattern('API.Example.com/*')).toMatchObject({ pattern: 'api.example.com/*', hostKind: 'exact', path: '/', prefix: true });
    expect(parseRoutePattern('*.example.com/x')).toMatchObject({ pattern: '*.example.com/x', hostKind: 'wildcard', host: 'example.com', prefix: false });
    expect(parseRoutes(['b.com/*', 'a.com/*', 'B.com/*'])).toEqual(['a.com/*', 'b.com/*']);
    const bad: Array<[unknown, RegExp]> = [
      ['example.com', /no path/],
      ['/only-a-path', /no host/],
      ['exa_mple.com/*', /"exa_mple" is not a valid host label/],
      ['-a.com/*', /not a valid host label/],
      ['a..com/*', /"" is not a valid host label/],
      ['example.com:8080/*', /without a port/],
      ['api.*.com/*', /leading "\*\."/],
      ['a*.com/*', /leading "\*\."/],
      ['example.com/*/x', /"\*" may only appear at the end of the path/],
      ['example.com/a b', /printable ASCII/],
      ['example.com/a?b', /printable ASCII/],
      [42, /array of strings/],
    ];
    for (const [raw, message] of bad) expect(() => parseRoutePattern(raw), String(raw)).toThrow(message);
  });
});

// Routing is under test here, not budgets: room for a cold start on a loaded machine.
const ROOMY = { cpuMs: 5000 };
const HELLO = (tag: string) => `export default { fetch(req) { const u = new URL(req.url); return new Response('${tag} ' + u.hostname + u.pathname); } }`;

describe('routes on a node', () => {
  let node: StartedNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  const call = async (host: string, path = '/') => {
    const res = await hostFetch(node.port, host, path);
    return { status: res.status, text: await res.text(), error: res.headers.get('edgefn-error') };
  };

  it('reaches functions by exact host, wildcard host, path prefix and exact path, most specific first', async () => {
    expect((await node.deploy('site', { limits: ROOMY, script: HELLO('site'), routes: ['example.com/*'] })).status).toBe(201);
    expect((await node.deploy('blog', { limits: ROOMY, script: HELLO('blog'), routes: ['example.com/blog/*', 'example.com/exact'] })).status).toBe(201);
    expect((await node.deploy('wild', { limits: ROOMY, script: HELLO('wild'), routes: ['*.example.com/*'] })).status).toBe(201);
    expect((await node.deploy('api', { limits: ROOMY, script: HELLO('api'), routes: ['api.example.com/*'] })).status).toBe(201);
    expect(await call('example.com', '/')).toMatchObject({ status: 200, text: 'site example.com/' });
    expect(await call('example.com', '/blog/hello')).toMatchObject({ status: 200, text: 'blog example.com/blog/hello' });
    expect(await call('example.com', '/exact')).toMatchObject({ status: 200, text: 'blog example.com/exact' });
    expect(await call('example.com', '/exact/not')).toMatchObject({ status: 200, text: 'site example.com/exact/not' });
    expect(await call('api.example.com', '/v1')).toMatchObject({ status: 200, text: 'api api.example.com/v1' });
    expect(await call('www.example.com:8080', '/')).toMatchObject({ status: 200, text: 'wild www.example.com/' });
    expect(await call('example.org', '/')).toMatchObject({ status: 404, error: 'not-found' });
  });

  it('still serves <name>.<base domain> for a function that has routes', async () => {
    expect(await call('blog.localhost', '/anything')).toMatchObject({ status: 200, text: 'blog blog.localhost/anything' });
    expect((await node.call('api', '/')).status).toBe(200);
  });

  it('shows a function’s routes, normalized, in GET /v1/functions/{name}', async () => {
    const res = await node.api('/v1/functions/blog');
    expect(await res.json()).toMatchObject({ name: 'blog', routes: ['example.com/blog/*', 'example.com/exact'] });
    const list = (await (await node.api('/v1/functions')).json()) as { functions: Array<{ name: string; routes?: string[] }> };
    expect(list.functions.find((f) => f.name === 'site')?.routes).toEqual(['example.com/*']);
  });

  it('serves each request of one keep-alive connection by its own host and path', async () => {
    const client = new Client(`http://127.0.0.1:${node.port}`, { pipelining: 1 });
    let connects = 0;
    client.on('connect', () => connects++);
    try {
      const got: string[] = [];
      for (const [host, path] of [['example.com', '/'], ['example.com', '/blog/1'], ['api.example.com', '/'], ['x.example.com', '/'], ['site.localhost', '/d'], ['example.com', '/exact']] as const) {
        const res = await client.request({ method: 'GET', path, headers: { host } });
        got.push(`${res.statusCode} ${await res.body.text()}`);
      }
      expect(got).toEqual(['200 site example.com/', '200 blog example.com/blog/1', '200 api api.example.com/', '200 wild x.example.com/', '200 site site.localhost/d', '200 blog example.com/exact']);
      // One connection carried them all (the first placed it on one host).
      expect(connects).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('refuses a route another function holds with 409 naming it, and changes nothing', async () => {
    const res = await node.deploy('thief', { limits: ROOMY, script: HELLO('thief'), routes: ['thief.example.net/*', 'EXAMPLE.com/blog/*'] });
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ error: { code: 'ERR_ROUTE_CONFLICT' } });
    expect(String((res.json['error'] as { message: string }).message)).toMatch(/"example\.com\/blog\/\*" is already claimed by function "blog"/);
    expect((await node.api('/v1/functions/thief')).status).toBe(404);
    expect(await call('thief.example.net', '/')).toMatchObject({ status: 404 });
    expect(await call('example.com', '/blog/x')).toMatchObject({ text: 'blog example.com/blog/x' });
  });

  it('refuses malformed patterns with 400 and the reason', async () => {
    for (const [routes, message] of [
      [['example.com'], /no path/],
      [['bad_host.com/*'], /not a valid host label/],
      [['example.com/a*b'], /only appear at the end of the path/],
      [['a.*.com/*'], /leading "\*\."/],
      ['example.com/*', /must be an array/],
    ] as const) {
      const res = await node.deploy('badroute', { limits: ROOMY, script: HELLO('x'), routes });
      expect(res.status, JSON.stringify(routes)).toBe(400);
      expect(res.json).toMatchObject({ error: { code: 'ERR_INVALID_INPUT' } });
      expect((res.json['error'] as { message: string }).message).toMatch(message);
    }
  });

  it('keeps routes when a redeploy leaves "routes" out, and replaces them when it gives them', async () => {
    expect((await node.deploy('api', { limits: ROOMY, script: HELLO('api2') })).status).toBe(200);
    expect(await call('api.example.com', '/')).toMatchObject({ text: 'api2 api.example.com/' });
    expect((await node.deploy('api', { limits: ROOMY, script: HELLO('api3'), routes: ['api.example.org/*'] })).status).toBe(200);
    expect(await call('api.example.org', '/')).toMatchObject({ text: 'api3 api.example.org/' });
    // api.example.com now falls to the wildcard.
    expect(await call('api.example.com', '/')).toMatchObject({ text: 'wild api.example.com/' });
  });

  it('takes routes from edgefn deploy --route, and reports a conflict from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefn-routes-cli-'));
    try {
      const file = join(dir, 'worker.js');
      writeFileSync(file, HELLO('cli'));
      let out = '';
      const io = { env: { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token }, stdout: (t: string) => (out += t), stderr: (t: string) => (out += t) };
      expect(await run(['deploy', file, '--name', 'clirouted', '--route', 'cli.example.net/*', '--route', 'cli.example.net/x', '--cpu-ms', '5000'], io), out).toBe(0);
      expect(await call('cli.example.net', '/x')).toMatchObject({ status: 200, text: 'cli cli.example.net/x' });
      out = '';
      expect(await run(['deploy', file, '--name', 'clithief', '--route', 'cli.example.net/x'], io)).toBe(1);
      expect(out).toMatch(/route "cli\.example\.net\/x" is already claimed by function "clirouted".*HTTP 409/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('frees a deleted function’s routes for another function', async () => {
    expect((await node.api('/v1/functions/blog', { method: 'DELETE' })).status).toBe(200);
    expect(await call('example.com', '/blog/x')).toMatchObject({ text: 'site example.com/blog/x' });
    expect(await call('example.com', '/exact')).toMatchObject({ text: 'site example.com/exact' });
    expect((await node.deploy('blog2', { limits: ROOMY, script: HELLO('blog2'), routes: ['example.com/blog/*'] })).status).toBe(201);
    expect(await call('example.com', '/blog/x')).toMatchObject({ text: 'blog2 example.com/blog/x' });
  });
});

describe('routes across a restart', () => {
  it('serves the same routes after the node restarts on its data directory', async () => {
    const first = await startNode();
    const dataDir = first.dataDir;
    try {
      expect((await first.deploy('kept', { limits: ROOMY, script: HELLO('kept'), routes: ['kept.example.com/*', '*.kept.example/*'] })).status).toBe(201);
      expect(await (await hostFetch(first.port, 'a.kept.example', '/p')).text()).toBe('kept a.kept.example/p');
    } finally {
      await first.close({ keepData: true });
    }
    const second = await startNode({ dataDir, token: first.token });
    try {
      expect(await (await hostFetch(second.port, 'kept.example.com', '/x')).text()).toBe('kept kept.example.com/x');
      expect(await (await hostFetch(second.port, 'b.kept.example', '/')).text()).toBe('kept b.kept.example/');
      expect(await (await second.api('/v1/functions/kept')).json()).toMatchObject({ routes: ['*.kept.example/*', 'kept.example.com/*'] });
      // The restored table still refuses a second claim.
      expect((await second.deploy('other', { limits: ROOMY, script: HELLO('other'), routes: ['kept.example.com/*'] })).status).toBe(409);
    } finally {
      await second.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
