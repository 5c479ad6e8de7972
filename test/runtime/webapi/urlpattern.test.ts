import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('URLPattern', () => {
  it('is built on first touch, not in every isolate', async () => {
    expect(
      await iso.run(`
        const before = Object.getOwnPropertyDescriptor(globalThis, 'URLPattern');
        const C = URLPattern;
        const after = Object.getOwnPropertyDescriptor(globalThis, 'URLPattern');
        return [typeof before.get, typeof after.value, after.value === C, C.name, Object.prototype.toString.call(new C({}))];`),
    ).toEqual(['function', 'function', true, 'URLPattern', '[object URLPattern]']);
  });

  it('matches components, named groups, wildcards and regexp groups, and canonicalizes through URL', async () => {
    expect(
      await iso.run(`
        const book = new URLPattern({ pathname: '/books/:id(\\\\d+)' });
        const files = new URLPattern('/files/*', 'https://example.com');
        const host = new URLPattern({ hostname: '{:sub.}?example.com', protocol: 'http{s}?' });
        const m = book.exec('https://example.com/books/123?x=1');
        return {
          id: m.pathname.groups.id,
          input: m.pathname.input,
          notDigits: book.test('https://example.com/books/abc'),
          wildcard: files.exec('https://example.com/files/a/b.txt').pathname.groups[0],
          otherOrigin: files.test('https://other.com/files/a'),
          sub: host.exec('http://api.example.com/').hostname.groups.sub,
          bare: host.test('https://example.com/'),
          regexpGroups: [book.hasRegExpGroups, files.hasRegExpGroups],
          pathname: book.pathname,
          encoded: new URLPattern({ pathname: '/caf\\u00e9' }).pathname,
          ignoreCase: new URLPattern({ pathname: '/ABC' }, { ignoreCase: true }).test({ pathname: '/abc' }),
          compare: URLPattern.compareComponent('pathname', new URLPattern({ pathname: '/a' }), new URLPattern({ pathname: '/b' })),
        };`),
    ).toEqual({
      id: '123',
      input: '/books/123',
      notDigits: false,
      wildcard: 'a/b.txt',
      otherOrigin: false,
      sub: 'api',
      bare: true,
      regexpGroups: [true, false],
      pathname: '/books/:id(\\d+)',
      encoded: '/caf%C3%A9',
      ignoreCase: true,
      compare: -1,
    });
  });

  it('throws TypeError for an invalid pattern and a relative string without a base', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const args of [[{ pathname: '/(' }], ['/relative'], [{ pathname: '/:a/:a' }]]) {
          try { new URLPattern(...args); out.push('ok'); } catch (e) { out.push(e.constructor.name); }
        }
        return out;`),
    ).toEqual(['TypeError', 'TypeError', 'TypeError']);
  });

  it('routes requests in a URLPattern router', async () => {
    const route = async (path: string) =>
      (
        await iso.respond(`
          const routes = [
            [new URLPattern({ pathname: '/users/:id' }), (g) => 'user ' + g.id],
            [new URLPattern({ pathname: '/files/*' }), (g) => 'file ' + g[0]],
            [new URLPattern({ pathname: '/search', search: 'q=:q' }), (g, m) => 'search ' + m.search.groups.q],
          ];
          const url = 'https://test.local${path}';
          for (const [pattern, handle] of routes) {
            const m = pattern.exec(url);
            if (m !== null) return new Response(handle(m.pathname.groups, m));
          }
          return new Response('not found', { status: 404 });`)
      );
    expect(await route('/users/42')).toMatchObject({ status: 200, text: 'user 42' });
    expect(await route('/files/a/b/c.txt')).toMatchObject({ status: 200, text: 'file a/b/c.txt' });
    expect(await route('/search?q=edge')).toMatchObject({ status: 200, text: 'search edge' });
    expect(await route('/nope')).toMatchObject({ status: 404, text: 'not found' });
  });

  it("keeps using whatwg-url's URL when a worker replaces the URL global", async () => {
    const fresh = await createWebapiIsolate();
    try {
      expect(
        await fresh.run(`
          globalThis.URL = function URL() { throw new Error('hijacked URL'); };
          const p = new URLPattern({ pathname: '/a/:b', hostname: 'example.com' });
          return [p.test('https://example.com/a/x'), p.exec('https://example.com/a/y').pathname.groups.b];`),
      ).toEqual([true, 'y']);
    } finally {
      fresh.dispose();
    }
  });
});
