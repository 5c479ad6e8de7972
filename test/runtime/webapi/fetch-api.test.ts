import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('Response', () => {
  it('reads string, bytes, ArrayBuffer, URLSearchParams and Blob bodies with default Content-Types', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const b of ['héllo', new TextEncoder().encode('bytes'), new TextEncoder().encode('ab').buffer,
                         new URLSearchParams({ a: '1 2' }), new Blob(['blob'], { type: 'Text/X' })]) {
          const r = new Response(b);
          out.push([await r.text(), r.headers.get('content-type')]);
        }
        return out;`),
    ).toEqual([
      ['héllo', 'text/plain;charset=UTF-8'],
      ['bytes', null],
      ['ab', null],
      ['a=1+2', 'application/x-www-form-urlencoded;charset=UTF-8'],
      ['blob', 'text/x'],
    ]);
  });

  it('copies a BufferSource body at construction', async () => {
    expect(await iso.run(`const u = new Uint8Array([65]); const r = new Response(u); u[0] = 66; return r.text();`)).toBe('A');
  });

  it('rejects a second read with TypeError and reports bodyUsed', async () => {
    expect(
      await iso.run(`
        const r = new Response('x');
        const before = r.bodyUsed;
        await r.text();
        let err; try { await r.text(); } catch (e) { err = e.constructor.name; }
        return [before, r.bodyUsed, err];`),
    ).toEqual([false, true, 'TypeError']);
  });

  it('exposes .body as a byte ReadableStream that a BYOB reader can read, and reading it marks the body used', async () => {
    expect(
      await iso.run(`
        const r = new Response('abc');
        const reader = r.body.getReader({ mode: 'byob' });
        const { value } = await reader.read(new Uint8Array(8));
        return [r.body instanceof ReadableStream, [...value], r.bodyUsed];`),
    ).toEqual([true, [97, 98, 99], true]);
  });

  it('reads a ReadableStream body and refuses a locked one', async () => {
    expect(
      await iso.run(`
        const s = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('a')); c.enqueue(new TextEncoder().encode('b')); c.close(); } });
        const text = await new Response(s).text();
        const locked = new ReadableStream(); locked.getReader();
        let err; try { new Response(locked); } catch (e) { err = e.constructor.name; }
        return [text, err];`),
    ).toEqual(['ab', 'TypeError']);
  });

  it('clone() tees a stream body and copies a string body; clone of a used body throws', async () => {
    expect(
      await iso.run(`
        const s = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('xy')); c.close(); } });
        const a = new Response(s); const b = a.clone();
        const c = new Response('str'); const d = c.clone();
        const texts = [await a.text(), await b.text(), await c.text(), await d.text()];
        let err; try { c.clone(); } catch (e) { err = e.constructor.name; }
        return [texts, err];`),
    ).toEqual([['xy', 'xy', 'str', 'str'], 'TypeError']);
  });

  it('reads a body re-wrapped from an untouched .body, leaving that stream locked and disturbed as a read would', async () => {
    expect(
      await iso.run(`
        const src = new Response('wrapped', { headers: { 'x-a': '1' } });
        const s = src.body;
        const copy = new Response(s, src);
        const before = [src.bodyUsed, s.locked, copy.body === s];
        const text = await copy.text();
        let again; try { s.getReader(); again = 'ok'; } catch (e) { again = e.constructor.name; }
        return [before, text, copy.headers.get('x-a'), src.bodyUsed, copy.bodyUsed, s.locked, again];`),
    ).toEqual([[false, false, true], 'wrapped', '1', true, true, true, 'TypeError']);
  });

  it('clones a body re-wrapped from an untouched .body without a tee: both read the bytes, the old stream is left locked', async () => {
    expect(
      await iso.run(`
        const s = new Response('teed').body;
        const r = new Response(s);
        const c = r.clone();
        const state = [s.locked, r.body === s, r.body instanceof ReadableStream];
        return [state, await r.text(), await c.text(), r.bodyUsed, c.bodyUsed];`),
    ).toEqual([[true, false, true], 'teed', 'teed', true, true]);
  });

  it('reads a Blob stream wrapped in a Response, handing out a copy of the Blob\'s bytes', async () => {
    expect(
      await iso.run(`
        const b = new Blob(['xyz']);
        const ab = await new Response(b.stream()).arrayBuffer();
        new Uint8Array(ab)[0] = 65;
        const released = b.stream(); released.getReader().releaseLock();
        return [new TextDecoder().decode(ab), await b.text(), await new Response(released).text()];`),
    ).toEqual(['Ayz', 'xyz', 'xyz']);
  });

  it('json(), arrayBuffer(), bytes() and blob() read the body', async () => {
    expect(
      await iso.run(`
        const j = await new Response('{"a":[1]}').json();
        const ab = await new Response('hi').arrayBuffer();
        const by = await new Response('hi').bytes();
        const bl = await new Response('hi', { headers: { 'content-type': 'text/html' } }).blob();
        return [j, ab instanceof ArrayBuffer, ab.byteLength, by instanceof Uint8Array, [...by], bl.type, await bl.text()];`),
    ).toEqual([{ a: [1] }, true, 2, true, [104, 105], 'text/html', 'hi']);
  });

  it('json() rejects with SyntaxError on bad JSON', async () => {
    expect(await iso.run(`try { await new Response('{').json(); } catch (e) { return e.name; }`)).toBe('SyntaxError');
  });

  it('validates status and statusText and forbids bodies on null-body statuses', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const f of [() => new Response('', { status: 199 }), () => new Response('', { status: 600 }),
                         () => new Response('x', { status: 204 }), () => new Response('', { statusText: 'a\\nb' })]) {
          try { f(); out.push('ok'); } catch (e) { out.push(e.constructor.name); }
        }
        const r = new Response(null, { status: 204, statusText: 'No Content' });
        out.push(r.status, r.statusText, r.ok, r.body);
        return out;`),
    ).toEqual(['RangeError', 'RangeError', 'TypeError', 'TypeError', 204, 'No Content', true, null]);
  });

  it('Response.json sets application/json unless given, and throws on unserializable data', async () => {
    expect(
      await iso.run(`
        const a = Response.json({ x: 1 }, { status: 201 });
        const b = Response.json(1, { headers: { 'content-type': 'application/vnd+json' } });
        let err; try { Response.json(undefined); } catch (e) { err = e.constructor.name; }
        return [a.status, a.headers.get('content-type'), await a.text(), b.headers.get('content-type'), err];`),
    ).toEqual([201, 'application/json', '{"x":1}', 'application/vnd+json', 'TypeError']);
  });

  it('Response.redirect sets an absolute Location, checks status, and has immutable headers', async () => {
    expect(
      await iso.run(`
        const r = Response.redirect('https://a.example/x?y', 301);
        let immut; try { r.headers.set('x', '1'); } catch (e) { immut = e.constructor.name; }
        let bad; try { Response.redirect('https://a.example/', 200); } catch (e) { bad = e.constructor.name; }
        let rel; try { Response.redirect('/relative'); } catch (e) { rel = e.constructor.name; }
        return [r.status, r.headers.get('location'), immut, bad, rel];`),
    ).toEqual([301, 'https://a.example/x?y', 'TypeError', 'RangeError', 'TypeError']);
  });

  it('Response.error has type error, status 0 and immutable headers', async () => {
    expect(
      await iso.run(`
        const r = Response.error();
        let err; try { r.headers.append('a', 'b'); } catch (e) { err = e.constructor.name; }
        return [r.type, r.status, r.ok, err];`),
    ).toEqual(['error', 0, false, 'TypeError']);
  });
});

describe('formData()', () => {
  it('round-trips a FormData with strings and files through a multipart body', async () => {
    expect(
      await iso.run(`
        const fd = new FormData();
        fd.append('a', 'one'); fd.append('a', 'two\\nlines');
        fd.append('f', new Blob(['file body'], { type: 'text/plain' }), 'x "q".txt');
        const r = new Response(fd);
        const ct = r.headers.get('content-type');
        const back = await r.formData();
        const f = back.get('f');
        return [ct.startsWith('multipart/form-data; boundary='), back.getAll('a'), f.name, f.type, await f.text()];`),
    ).toEqual([true, ['one', 'two\r\nlines'], 'x %22q%22.txt', 'text/plain', 'file body']);
  });

  it('parses an urlencoded body and rejects other types with TypeError', async () => {
    expect(
      await iso.run(`
        const fd = await new Response('a=1&b=x+y&a=%C3%A9', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }).formData();
        let err; try { await new Response('x').formData(); } catch (e) { err = e.constructor.name; }
        return [fd.getAll('a'), fd.get('b'), err];`),
    ).toEqual([['1', 'é'], 'x y', 'TypeError']);
  });
});

describe('Request', () => {
  it('normalizes the method, resolves the URL, and adds a Content-Type for string bodies', async () => {
    expect(
      await iso.run(`
        const r = new Request('https://EXAMPLE.com/a/../b', { method: 'post', body: 'x' });
        const p = new Request('https://e.example/', { method: 'patch' });
        return [r.method, r.url, r.headers.get('content-type'), await r.text(), p.method];`),
    ).toEqual(['POST', 'https://example.com/b', 'text/plain;charset=UTF-8', 'x', 'patch']);
  });

  it('throws TypeError for relative URLs, credentials, GET with body and forbidden methods', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const f of [() => new Request('/x'), () => new Request('https://u:p@e.example/'),
                         () => new Request('https://e.example/', { body: 'x' }),
                         () => new Request('https://e.example/', { method: 'CONNECT' }),
                         () => new Request('https://e.example/', { method: 'bad method' })]) {
          try { f(); out.push('ok'); } catch (e) { out.push(e.constructor.name); }
        }
        return out;`),
    ).toEqual(Array(5).fill('TypeError'));
  });

  it('new Request(request) takes over the body and leaves the original used', async () => {
    expect(
      await iso.run(`
        const a = new Request('https://e.example/', { method: 'PUT', body: 'moved' });
        const b = new Request(a, { headers: { x: '1' } });
        return [a.bodyUsed, await b.text(), b.method, b.headers.get('x')];`),
    ).toEqual([true, 'moved', 'PUT', '1']);
  });

  it('follows the signal it was given', async () => {
    expect(
      await iso.run(`
        const c = new AbortController();
        const r = new Request('https://e.example/', { signal: c.signal });
        const before = r.signal.aborted;
        c.abort('why');
        return [before, r.signal.aborted, r.signal.reason];`),
    ).toEqual([false, true, 'why']);
  });

  it('clone() copies headers and tees the body', async () => {
    expect(
      await iso.run(`
        const a = new Request('https://e.example/', { method: 'POST', body: 'b', headers: { k: 'v' } });
        const b = a.clone();
        b.headers.set('k', 'w');
        return [await a.text(), await b.text(), a.headers.get('k'), b.headers.get('k')];`),
    ).toEqual(['b', 'b', 'v', 'w']);
  });
});

describe('the dispatch seam', () => {
  it('delivers the host URL, method and headers without parsing them', async () => {
    expect(
      await iso.inRequest(`
        return [request.method, request.url, [...request.headers], request.body, request.bodyUsed];`),
    ).toEqual(['GET', 'https://test.local/', [['accept', '*/*']], null, false]);
  });

  it('sends a string body as bytes in the head, with set-cookie entries kept apart', async () => {
    const r = await iso.respond(`
      const h = new Headers(); h.append('Set-Cookie', 'a=1'); h.append('Set-Cookie', 'b=2');
      return new Response('héllo', { status: 201, headers: h });`);
    expect(r).toEqual({ status: 201, mode: 'bytes', text: 'héllo', headers: ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain;charset=UTF-8'] });
  });

  it('sends a response re-wrapped from an untouched .body as bytes in the head, as Hono copies one', async () => {
    // Hono's context does \`new Response(res.body, res)\` when middleware sets a
    // header after the handler, and its etag middleware clones the response.
    const r = await iso.respond(`
      const first = new Response('{"a":1}', { headers: { 'content-type': 'application/json' } });
      const second = new Response(first.body, first);
      const digestOf = await second.clone().text();
      const third = new Response(second.body, second);
      third.headers.set('etag', String(digestOf.length));
      return third;`);
    expect(r).toEqual({ status: 200, mode: 'bytes', text: '{"a":1}', headers: ['content-type', 'application/json', 'etag', '7'] });
  });

  it('streams a ReadableStream body chunk by chunk', async () => {
    const r = await iso.respond(`
      const enc = new TextEncoder();
      return new Response(new ReadableStream({ start(c) { c.enqueue(enc.encode('a')); c.enqueue(enc.encode('b')); c.close(); } }));`);
    expect(r).toMatchObject({ status: 200, mode: 'stream', text: 'ab' });
  });

  it('sends no body for a null body', async () => {
    expect(await iso.respond(`return new Response(null, { status: 204 });`)).toMatchObject({ status: 204, mode: 'none' });
  });

  it('refuses a response whose body was already read', async () => {
    await expect(iso.respond(`const r = new Response('x'); await r.text(); return r;`)).rejects.toThrow(/already been used/);
  });
});

describe('Request method normalisation', () => {
  // Regression: the table of methods to upper-case was an ordinary object, so
  // a method named "constructor" became Object.prototype.constructor (a function).
  it('keeps names that are Object.prototype members as they are, and upper-cases only the six', async () => {
    expect(
      await iso.run(`return ['constructor', 'toString', '__proto__', 'get', 'patch'].map((m) => new Request('https://a.test/', { method: m }).method);`),
    ).toEqual(['constructor', 'toString', '__proto__', 'GET', 'patch']);
  });
});
