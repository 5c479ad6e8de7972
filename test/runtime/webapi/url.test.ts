import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('URL', () => {
  it('parses odd inputs the way the URL standard says', async () => {
    expect(
      await iso.run(`
        return [
          new URL('HTTP://EXAMPLE.com:80/./a/%2e%2E/b?q=1#f').href,
          new URL('https://0x7f.1/').hostname,
          new URL('https://[::FFFF:1.2.3.4]/').host,
          new URL('  https://e.example/\\ta b  ').href,
          new URL('../c', 'https://e.example/a/b/').href,
          new URL('file:///C:/x/../y').href,
          new URL('blob:https://e.example/uuid').origin,
          URL.canParse('http://'), URL.canParse('a:b'),
        ];`),
    ).toEqual(['http://example.com/b?q=1#f', '127.0.0.1', '[::ffff:102:304]', 'https://e.example/a%20b', 'https://e.example/a/c', 'file:///C:/y', 'https://e.example', false, true]);
  });

  it('keeps ASCII hosts in the isolate and asks the host only for IDNA', async () => {
    const before = iso.syncCalls.length;
    expect(await iso.run(`return new URL('https://Sub.Example.COM/').host`)).toBe('sub.example.com');
    expect(iso.syncCalls.length).toBe(before);
    // whatwg-url 17 follows the URL standard's web-compatibility rule: an ASCII
    // domain (xn-- labels included) is lower-cased, never sent through ToASCII.
    expect(await iso.run(`return new URL('https://XN--bcher-kva.example/').host`)).toBe('xn--bcher-kva.example');
    expect(iso.syncCalls.length).toBe(before);
    expect(await iso.run(`return [new URL('https://Bücher.example/').host, new URL('https://faß.example/').host]`)).toEqual([
      'xn--bcher-kva.example',
      'xn--fa-hia.example',
    ]);
    expect(iso.syncCalls.slice(before)).toEqual([
      { op: 'idna', payload: { domain: 'Bücher.example', toUnicode: false } },
      { op: 'idna', payload: { domain: 'faß.example', toUnicode: false } },
    ]);
  });

  it('rejects non-ASCII hosts that IDNA processing on the host fails, with TypeError', async () => {
    expect(await iso.run(`try { new URL('https://xn--a.bücher.example/'); return 'parsed'; } catch (e) { return e.constructor.name; }`)).toBe('TypeError');
    expect(await iso.run(`try { new URL('https://a\\uFF05b.example/'); return 'parsed'; } catch (e) { return e.constructor.name; }`)).toBe('TypeError');
  });

  it('updates searchParams and search together', async () => {
    expect(
      await iso.run(`
        const u = new URL('https://e.example/?b=2&a=1&a=3');
        u.searchParams.append('c', 'x y&z');
        u.searchParams.sort();
        return [u.search, u.searchParams.getAll('a'), [...new URLSearchParams({ k: 'v' })]];`),
    ).toEqual(['?a=1&a=3&b=2&c=x+y%26z', ['1', '3'], [['k', 'v']]]);
  });

  it('request.url is the host-supplied string; parsing it happens only on demand', async () => {
    expect(await iso.inRequest(`return [request.url, new URL(request.url).pathname]`)).toEqual(['https://test.local/', '/']);
  });
});
