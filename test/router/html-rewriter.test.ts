// HTMLRewriter through a real node: lol-html runs inside the function's
// isolate (runtime/webapi/html-rewriter.ts) and the rewritten body streams to
// the client as the upstream body streams in.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

const ORIGIN_PAGE = '<html><body>' + '<a href="http://origin.example/p">p</a> <img src="http://origin.example/i.png">\n'.repeat(2000) + '</body></html>';

let node: StartedNode;
let origin: Server;
let originUrl: string;
beforeAll(async () => {
  // An origin that sends its page in pieces, as a real upstream would.
  origin = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(ORIGIN_PAGE)) });
    const bytes = Buffer.from(ORIGIN_PAGE);
    let at = 0;
    const next = (): void => {
      if (at >= bytes.length) return void res.end();
      res.write(bytes.subarray(at, at + 8192));
      at += 8192;
      setImmediate(next);
    };
    next();
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  // Outbound fetch refuses loopback unless allowed; the origin is on 127.0.0.1.
  node = await startNode({ env: { EDGEFN_FETCH_ALLOW: '127.0.0.1' } });
});
afterAll(async () => {
  await node.close();
  await new Promise((resolve) => origin.close(resolve));
});

/** Deploy `script` (a module worker) as `name` and return the text of GET `path`. */
async function run(name: string, script: string, path = '/'): Promise<{ status: number; text: string; headers: Headers }> {
  const d = await node.deploy(name, { script, limits: { cpuMs: 5000 } });
  expect(d.status, JSON.stringify(d.json)).toBe(201);
  const res = await node.call(name, path);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('HTMLRewriter on a node', () => {
  it('rewrites every a[href] from http: to https: and leaves the rest of the document byte for byte', async () => {
    const page = `<!doctype html>\n<html><head><title>Links &amp; more</title></head><body>\n<a href="http://example.com/a">one</a> <a class=x href='http://example.com/b?q=1&amp;r=2'>two</a>\n<a name="anchor">no href</a> <a href="https://already.example/">three</a>\n<p>text with http://example.com not a link</p></body></html>\n`;
    const script = `const PAGE = ${JSON.stringify(page)};
      export default { fetch() {
        const upstream = new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-length': String(new TextEncoder().encode(PAGE).length), 'x-upstream': 'kept' } });
        return new HTMLRewriter().on('a[href]', {
          element(el) {
            const href = el.getAttribute('href');
            if (href.startsWith('http:')) el.setAttribute('href', 'https:' + href.slice(5));
          },
        }).transform(upstream);
      } };`;
    const r = await run('hr-links', script);
    expect(r.status).toBe(200);
    // lol-html writes an attribute it changed with double quotes (workerd does the same: conformance case html-rewriter).
    expect(r.text).toBe(page.replaceAll('href="http://', 'href="https://').replace("href='http://example.com/b?q=1&amp;r=2'", 'href="https://example.com/b?q=1&amp;r=2"'));
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('x-upstream')).toBe('kept');
    // The rewritten length is not the upstream's.
    expect(r.headers.get('content-length')).not.toBe(String(Buffer.byteLength(page)));
  });

  it('applies element mutations, escaping content unless { html: true }', async () => {
    const script = `export default { async fetch() {
        const seen = [];
        const res = new HTMLRewriter()
          .on('#inner', { element(el) { el.setInnerContent('<b>not bold</b> & more'); } })
          .on('#inner-html', { element(el) { el.setInnerContent('<b>bold</b>', { html: true }); } })
          .on('#around', { element(el) {
            el.before('<hr>', { html: true }).after('<after>').prepend('[', { html: false }).append('<i>]</i>', { html: true });
          } })
          .on('#replace', { element(el) { el.replace('<span>replaced</span>', { html: true }); } })
          .on('#remove', { element(el) { el.remove(); seen.push('removed=' + el.removed); } })
          .on('#unwrap', { element(el) { el.removeAndKeepContent(); } })
          .on('#attrs', { element(el) {
            seen.push(el.tagName, String(el.hasAttribute('data-a')), String(el.hasAttribute('nope')), String(el.getAttribute('nope')));
            seen.push([...el.attributes].map(([k, v]) => k + '=' + v).join(','));
            el.removeAttribute('data-b');
            el.setAttribute('data-c', 'a "quoted" <value>');
            el.tagName = 'section';
            el.onEndTag(function (end) { seen.push('end:' + end.name + ':' + (this === el)); end.before('<!--before end-->', { html: true }); end.after('!', { html: false }); });
          } })
          .on('#ns svg', { element(el) { seen.push(el.namespaceURI); } })
          .transform(new Response('<div id="inner">x</div><div id="inner-html">x</div><p id="around">mid</p><div id="replace"><em>gone</em></div><div id="remove">gone<b>too</b></div><div id="unwrap"><b>kept</b></div><div id="attrs" data-a="1" data-b="2">in</div><div id="ns"><svg></svg></div>'));
        const body = await res.text();
        return Response.json({ body, seen });
      } };`;
    const r = await run('hr-elements', script);
    expect(r.status).toBe(200);
    const { body, seen } = JSON.parse(r.text) as { body: string; seen: string[] };
    expect(body).toBe(
      '<div id="inner">&lt;b&gt;not bold&lt;/b&gt; &amp; more</div>' +
        '<div id="inner-html"><b>bold</b></div>' +
        '<hr><p id="around">[mid<i>]</i></p>&lt;after&gt;' +
        '<span>replaced</span>' +
        '' +
        '<b>kept</b>' +
        '<section id="attrs" data-a="1" data-c="a &quot;quoted&quot; <value>">in<!--before end--></section>!' +
        '<div id="ns"><svg></svg></div>',
    );
    expect(seen).toEqual(['removed=true', 'div', 'true', 'false', 'null', 'id=attrs,data-a=1,data-b=2', 'end:section:true', 'http://www.w3.org/2000/svg']);
  });

  it('hands text to text handlers in chunks, marks the last of each text node, and replaces text', async () => {
    const script = `export default { async fetch() {
        const chunks = [];
        const res = new HTMLRewriter()
          .on('p', { text(t) { chunks.push([t.text, t.lastInTextNode]); if (t.text.includes('secret')) t.replace(t.text.replace('secret', '<redacted>')); } })
          .on('span', { text(t) { if (t.text !== '') { t.before('«'); t.after('»'); } } })
          .on('del', { text(t) { t.remove(); } })
          .transform(new Response('<p>the secret word</p><p>a<b>b</b>c</p><span>quoted</span><del>x</del>'));
        return Response.json({ body: await res.text(), chunks });
      } };`;
    const r = await run('hr-text', script);
    const { body, chunks } = JSON.parse(r.text) as { body: string; chunks: [string, boolean][] };
    expect(body).toBe('<p>the &lt;redacted&gt; word</p><p>a<b>b</b>c</p><span>«quoted»</span><del></del>');
    // Each text node ends with an empty chunk whose lastInTextNode is true; <b>'s text is inside p too.
    const joined = chunks.filter(([, last]) => !last).map(([t]) => t).join('|');
    expect(joined).toBe('the secret word|a|b|c');
    expect(chunks.filter(([, last]) => last).length).toBe(4);
  });

  it('hands comments to element and document comment handlers', async () => {
    const script = `export default { async fetch() {
        const seen = [];
        const res = new HTMLRewriter()
          .on('div', { comments(c) { seen.push('div:' + c.text); c.text = ' changed '; } })
          .onDocument({ comments(c) { seen.push('doc:' + c.text); if (c.text.trim() === 'drop') c.remove(); } })
          .on('section', { comments(c) { c.replace('<b>was a comment</b>', { html: true }); } })
          .transform(new Response('<!-- top --><div><!-- inner --></div><!-- drop --><section><!--x--></section>'));
        return Response.json({ body: await res.text(), seen });
      } };`;
    const r = await run('hr-comments', script);
    const { body, seen } = JSON.parse(r.text) as { body: string; seen: string[] };
    expect(body).toBe('<!-- top --><div><!-- changed --></div><section><b>was a comment</b></section>');
    expect(seen).toEqual(['doc: top ', 'div: inner ', 'doc: changed ', 'doc: drop ', 'doc:x']);
  });

  it('gives document handlers the doctype and text, and appends at the document end', async () => {
    const script = `export default { async fetch() {
        const seen = [];
        const res = new HTMLRewriter()
          .onDocument({
            doctype(d) { seen.push([d.name, d.publicId, d.systemId]); },
            text(t) { if (t.text.trim()) seen.push('text:' + t.text.trim()); },
            end(end) { end.append('<footer>appended</footer>', { html: true }).append('<&>'); },
          })
          .transform(new Response('<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><p>hi</p>'));
        return Response.json({ body: await res.text(), seen });
      } };`;
    const r = await run('hr-document', script);
    const { body, seen } = JSON.parse(r.text) as { body: string; seen: unknown[] };
    expect(body).toBe('<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><p>hi</p><footer>appended</footer>&lt;&amp;&gt;');
    expect(seen).toEqual([['html', '-//W3C//DTD HTML 4.01//EN', 'http://www.w3.org/TR/html4/strict.dtd'], 'text:hi']);
  });

  it('waits for async handlers (a timer and a host call) and keeps the output in document order', async () => {
    const script = `export default { async fetch() {
        const res = new HTMLRewriter()
          .on('[data-hash]', { async element(el) {
            await new Promise((r) => setTimeout(r, 20));
            const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(el.getAttribute('data-hash')));
            el.setInnerContent([...new Uint8Array(digest)].slice(0, 4).map((b) => b.toString(16).padStart(2, '0')).join(''));
          } })
          .on('i', { element(el) { el.setAttribute('sync', 'yes'); } })
          .onDocument({ async end(end) { await null; end.append('<!--done-->', { html: true }); } })
          .transform(new Response('<i></i><p data-hash="abc">x</p><i></i><p data-hash="">y</p><i></i>'));
        return new Response(await res.text());
      } };`;
    const r = await run('hr-async', script);
    // SHA-256("abc") = ba7816bf…, SHA-256("") = e3b0c442…
    expect(r.text).toBe('<i sync="yes"></i><p data-hash="abc">ba7816bf</p><i sync="yes"></i><p data-hash="">e3b0c442</p><i sync="yes"></i><!--done-->');
  });

  it('streams a 2 MB body through: the first rewritten bytes reach the client before the upstream has finished', async () => {
    // The upstream makes 32 chunks of 64 KB, each holding links; after the
    // 16th it waits 1.5 s before making the rest. A rewriter that buffered
    // the whole body would send its first byte after that wait; a streaming
    // one sends it at once. What is measured: the time from the client's
    // first body byte to the end of the body, which must cover the wait.
    const script = `const enc = new TextEncoder();
      const LINK = '<a href="http://example.com/page">link</a>';
      function chunk(i) { let s = '<section data-chunk="' + i + '">'; while (s.length < 65536 - 64) s += LINK; return enc.encode(s + '</section>'); }
      export default { fetch() {
        let i = 0;
        const upstream = new ReadableStream({
          async pull(c) {
            if (i === 16) await new Promise((r) => setTimeout(r, 1500));
            if (i === 32) { c.close(); return; }
            c.enqueue(chunk(i++));
          },
        }, { highWaterMark: 0 });
        return new HTMLRewriter().on('a[href^="http:"]', {
          element(el) { el.setAttribute('href', 'https:' + el.getAttribute('href').slice(5)); },
        }).transform(new Response(upstream, { headers: { 'content-type': 'text/html' } }));
      } };`;
    const d = await node.deploy('hr-stream', { script, limits: { cpuMs: 30_000 } });
    expect(d.status, JSON.stringify(d.json)).toBe(201);
    const res = await request(`${node.dataUrl}/`, { headers: { host: 'hr-stream.localhost' } });
    expect(res.statusCode).toBe(200);
    let firstByteAt = 0;
    const parts: Buffer[] = [];
    for await (const part of res.body) {
      if (firstByteAt === 0) firstByteAt = performance.now();
      parts.push(part as Buffer);
    }
    const endAt = performance.now();
    const text = Buffer.concat(parts).toString();
    expect(text.length).toBeGreaterThan(2_000_000);
    expect(text).not.toContain('href="http:');
    // The same chunks as the worker makes, rewritten: the output is exact.
    const LINK = '<a href="http://example.com/page">link</a>';
    let expected = '';
    for (let i = 0; i < 32; i++) {
      let s = `<section data-chunk="${i}">`;
      while (s.length < 65536 - 64) s += LINK;
      expected += `${s}</section>`;
    }
    expect(text).toBe(expected.replaceAll('href="http:', 'href="https:'));
    expect(text.match(/data-chunk="(\d+)"/g)?.length).toBe(32);
    expect(endAt - firstByteAt).toBeGreaterThan(1000);
  });

  it('throws a TypeError naming the problem for a selector lol-html cannot parse', async () => {
    const script = `export default { fetch(req) {
        const selector = new URL(req.url).searchParams.get('s');
        try { new HTMLRewriter().on(selector, { element() {} }); return new Response('accepted'); }
        catch (e) { return new Response(e.name + ': ' + e.message, { status: 400 }); }
      } };`;
    const d = await node.deploy('hr-selector', { script });
    expect(d.status).toBe(201);
    const bad = await node.call('hr-selector', `/?s=${encodeURIComponent('p:hover')}`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe('TypeError: Parser error: Unsupported pseudo-class or pseudo-element in selector.');
    const empty = await node.call('hr-selector', `/?s=`);
    expect(await empty.text()).toBe('TypeError: Parser error: The selector is empty.');
    expect(await (await node.call('hr-selector', `/?s=${encodeURIComponent('div > p.x[data-y="z"]')}`)).text()).toBe('accepted');
  });

  it('errors the response body when a handler throws, and the function keeps serving', async () => {
    const script = `export default { async fetch(req) {
        const fail = new URL(req.url).searchParams.has('fail');
        const res = new HTMLRewriter().on('p', { element(el) { if (fail) throw new Error('handler broke'); el.setAttribute('ok', ''); } })
          .transform(new Response('<p>x</p>'));
        try { return new Response(await res.text()); } catch (e) { return new Response('caught ' + e.message, { status: 500 }); }
      } };`;
    await node.deploy('hr-throw', { script });
    const failed = await node.call('hr-throw', '/?fail');
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe('caught handler broke');
    expect(await (await node.call('hr-throw')).text()).toBe('<p ok="">x</p>');
  });

  it('rewrites a page fetched from an origin as it arrives', async () => {
    const script = `export default { async fetch(req, env) {
        const upstream = await fetch(env.ORIGIN + '/page');
        return new HTMLRewriter()
          .on('a[href], img[src]', { element(el) {
            const name = el.tagName === 'a' ? 'href' : 'src';
            el.setAttribute(name, el.getAttribute(name).replace('http://', 'https://'));
          } })
          .transform(upstream);
      } };`;
    const d = await node.deploy('hr-origin', { script, vars: { ORIGIN: originUrl }, limits: { cpuMs: 10_000 } });
    expect(d.status, JSON.stringify(d.json)).toBe(201);
    const res = await node.call('hr-origin');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(ORIGIN_PAGE.replaceAll('http://origin.example/', 'https://origin.example/'));
  });
});
