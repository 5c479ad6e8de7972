// HTMLRewriter (lol-html): the same handlers on edgefn's in-isolate
// WebAssembly build and on workerd's native one must produce the same bytes.

// Cloudflare's API, which the WebWorker lib this folder is typed against does not have.
interface ContentOptions {
  html?: boolean;
}
/** Content: a string, or (Workers' streamed content) a ReadableStream or a Response read as UTF-8. */
type Content = string | ReadableStream | Response;
interface RewriterElement {
  tagName: string;
  readonly attributes: IterableIterator<[string, string]>;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  setAttribute(name: string, value: string): this;
  removeAttribute(name: string): this;
  before(content: Content, options?: ContentOptions): this;
  after(content: Content, options?: ContentOptions): this;
  prepend(content: Content, options?: ContentOptions): this;
  append(content: Content, options?: ContentOptions): this;
  replace(content: Content, options?: ContentOptions): this;
  setInnerContent(content: Content, options?: ContentOptions): this;
  remove(): this;
  removeAndKeepContent(): this;
  onEndTag(handler: (end: { name: string; before(c: Content, o?: ContentOptions): unknown; after(c: Content, o?: ContentOptions): unknown }) => void | Promise<void>): void;
}
interface RewriterText {
  readonly text: string;
  readonly lastInTextNode: boolean;
  before(content: Content, options?: ContentOptions): this;
  after(content: Content, options?: ContentOptions): this;
  replace(content: Content, options?: ContentOptions): this;
}
interface RewriterComment {
  text: string;
  remove(): this;
  before(content: string, options?: ContentOptions): this;
}
interface ElementHandlers {
  element?(el: RewriterElement): void | Promise<void>;
  text?(t: RewriterText): void | Promise<void>;
  comments?(c: RewriterComment): void | Promise<void>;
}
interface DocumentHandlers {
  doctype?(d: { name: string | null }): void;
  end?(end: { append(content: Content, options?: ContentOptions): unknown }): void | Promise<void>;
}
declare class HTMLRewriter {
  on(selector: string, handlers: ElementHandlers): HTMLRewriter;
  onDocument(handlers: DocumentHandlers): HTMLRewriter;
  transform(response: Response): Response;
}

const PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Links &amp; things</title></head>
<body>
<a href="http://example.com/">one</a> <a class='c' href='http://example.com/two?a=1&amp;b=2'>two</a>
<a href="https://secure.example/">three</a> <a name="no-href">four</a> <A HREF=http://example.com/caps>five</A>
<p>http://example.com in text stays</p>
</body></html>
`;

const MUTATIONS = `<div id="inner">x</div><div id="inner-html">x</div><p id="around">mid</p><div id="replace"><em>gone</em></div>
<div id="remove">gone<b>too</b></div><div id="unwrap"><b>kept</b></div><div id="attrs" data-a="1" data-b="2">in</div>
<p class="t">the secret word</p><!-- top --><section><!-- inner --></section>`;

function html(body: string | ReadableStream<Uint8Array>): Response {
  return new Response(body, { headers: { 'content-type': 'text/html; charset=utf-8' } });
}

const encoder = new TextEncoder();

/** A stream of `parts` (strings are encoded, bytes go as they are), one every few ms. */
function slowStream(...parts: Array<string | Uint8Array>): ReadableStream {
  return new ReadableStream({
    async start(c) {
      for (const p of parts) {
        await new Promise((r) => setTimeout(r, 2));
        c.enqueue(typeof p === 'string' ? encoder.encode(p) : p);
      }
      c.close();
    },
  });
}

/** The rewritten body of `input`, or the error that ended it, as one line. */
async function outcome(input: string, rewriter: HTMLRewriter): Promise<string> {
  try {
    return await rewriter.transform(html(input)).text();
  } catch (err) {
    const e = err as Error;
    return `${e.name}: ${e.message}`;
  }
}

/** Streamed content (a ReadableStream or a Response given to before/append/…), each case's output on its own line. */
async function streamedContent(): Promise<string> {
  const lines = [
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(slowStream('<b>', 'S</b>')); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(slowStream('<b>', 'S</b>'), { html: true }); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append('a'); e.append(slowStream('S1', 'S2')); e.append('b'); e.prepend(slowStream('P')); e.before('<i>', { html: true }); } })),
    await outcome('<p>x</p><p>y</p>', new HTMLRewriter().on('p', { element(e) { e.setInnerContent(new Response('<i>r</i>'), { html: true }); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.replace(new Response(slowStream('re', 'placed'))); } })),
    await outcome('<p>hello</p>', new HTMLRewriter().on('p', { text(t) { if (t.text !== '') t.replace(slowStream('T')); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { async element(e) { await new Promise((r) => setTimeout(r, 2)); e.after(slowStream('AFTER')); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(new ReadableStream({ start(c) { c.enqueue('str'); c.close(); } })); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(slowStream(new Uint8Array([0xc3]), new Uint8Array([0xa9]))); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(slowStream(new Uint8Array([0xff]))); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(new ReadableStream({ start(c) { c.error(new RangeError('the stream broke')); } })); } })),
    await outcome('<p><!--c--></p>', new HTMLRewriter().on('p', { comments(c) { c.before(slowStream('B') as unknown as string); } })),
    await outcome('<p>x</p>', new HTMLRewriter().onDocument({ end(e) { e.append(slowStream('END')); } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.onEndTag((t) => { t.before(slowStream('B')); t.after(slowStream('A')); }); } })),
    await outcome('<p>xy</p>', new HTMLRewriter().on('p', { text(t) { if (t.text !== '') { t.before(slowStream('<')); t.after(slowStream('>'), { html: true }); } } })),
    await outcome('<p>x</p>', new HTMLRewriter().on('p', { element(e) { e.append(slowStream('1')); e.remove(); } })),
  ];
  return lines.join('\n');
}

/** `bytes` rewritten as a document with Content-Type `contentType`, shown with its non-ASCII bytes as \\xNN, or the error. */
async function inCharset(bytes: number[], contentType: string, rewriter: HTMLRewriter): Promise<string> {
  try {
    const out = new Uint8Array(await rewriter.transform(new Response(new Uint8Array(bytes), { headers: { 'content-type': contentType } })).arrayBuffer());
    return [...out].map((b) => (b < 128 ? String.fromCharCode(b) : `\\x${b.toString(16)}`)).join('');
  } catch (err) {
    const e = err as Error;
    return `${e.name}: ${e.message}`;
  }
}

/** Documents in other encodings than UTF-8, by the Content-Type's charset; what the handlers saw last. */
async function charsets(): Promise<string> {
  // <p>é€</p> in windows-1252.
  const P = [0x3c, 0x70, 0x3e, 0xe9, 0x80, 0x3c, 0x2f, 0x70, 0x3e];
  const seen: string[] = [];
  const lines = [
    await inCharset(P, 'text/html; charset=windows-1252', new HTMLRewriter().on('p', { element(e) { e.append('\u00fc\u20ac'); e.setAttribute('t', '\u00e9'); }, text(t) { seen.push(t.text); } })),
    await inCharset(P, 'text/html; charset=windows-1252', new HTMLRewriter().on('p', { element(e) { e.append('\u3042<'); e.setAttribute('a', '\u3042"'); e.before('<i>\u3042</i>', { html: true }); } })),
    await inCharset(P, 'text/html;charset="ISO-8859-1"', new HTMLRewriter().on('p', { element(e) { e.append('<!--x-->', { html: true }); } }).onDocument({ end(e) { e.append('\u00e9'); } })),
    await inCharset(P, 'text/html; charset=latin1', new HTMLRewriter().on('p', { text(t) { if (t.text !== '') t.replace(t.text.toUpperCase()); } })),
    await inCharset(P, 'text/html; charset=koi8-r', new HTMLRewriter().on('p', { element(e) { e.append('\u0436'); } })),
    await inCharset(P, 'text/html; charset=x-user-defined', new HTMLRewriter().on('p', { element(e) { e.append('\uf780'); } })),
    await inCharset([0x3c, 0x70, 0x3e, 0x81, 0x8d, 0xff, 0x3c, 0x2f, 0x70, 0x3e], 'text/html; charset=windows-1253', new HTMLRewriter().on('p', { element(e) { e.setAttribute('x', '1'); } })),
    await inCharset(P, 'text/plain; charset=windows-1252', new HTMLRewriter().on('p', { element(e) { e.append('\u00fc'); } })),
    await inCharset(P, 'text/html', new HTMLRewriter().on('p', { element(e) { e.append('\u00fc'); } })),
    await inCharset([0xef, 0xbb, 0xbf, ...P], 'text/html; charset=windows-1252', new HTMLRewriter().on('p', { element(e) { e.append('\u00fc'); } })),
    await inCharset(P, 'text/html; charset=iso-2022-kr', new HTMLRewriter()),
    await inCharset(P, 'text/html; charset=no-such-charset', new HTMLRewriter()),
    await inCharset(P, 'text/html; charset=utf-16', new HTMLRewriter()),
  ];
  return `${lines.join('\n')}\n${seen.join('|')}`;
}

/** Documents in the multi-byte encodings: valid, duplicate-encoded and invalid sequences, read, written into and re-encoded; what the handlers saw last. */
async function multiByteCharsets(): Promise<string> {
  const wrap = (inner: number[]): number[] => [0x3c, 0x70, 0x20, 0x74, 0x3d, 0x22, ...inner, 0x22, 0x3e, ...inner, 0x3c, 0x2f, 0x70, 0x3e];
  const show = (s: string | null): string => [...(s ?? 'null')].map((c) => (c.codePointAt(0)! < 128 ? c : `U+${c.codePointAt(0)!.toString(16)}`)).join('');
  const inserted = '\u65e5\u30a2\ud55c\u4e2d\u20ac\u00e9\ud83d\ude00<';
  const docs: Record<string, number[]> = {
    shift_jis: [0x93, 0xfa, 0x96, 0x7b, 0x87, 0x9a, 0xed, 0x40, 0x81, 0x20, 0xb1, 0xf0, 0x40],
    'euc-jp': [0xc6, 0xfc, 0x8e, 0xb1, 0x8f, 0xb0, 0xa1, 0xa1, 0x20, 0xff],
    'euc-kr': [0xc7, 0xd1, 0x81, 0x41, 0xc7, 0x20, 0x80],
    gbk: [0xd6, 0xd0, 0x80, 0x81, 0x30, 0x81, 0x30, 0xff],
    gb18030: [0xd6, 0xd0, 0x80, 0x84, 0x31, 0xa4, 0x39, 0xff],
    big5: [0xa4, 0xa4, 0x88, 0x62, 0x88, 0x40, 0xf9, 0xfe, 0xa4, 0x20],
  };
  const seen: string[] = [];
  const lines: string[] = [];
  for (const [charset, inner] of Object.entries(docs)) {
    const ct = `text/html; charset=${charset}`;
    lines.push(await inCharset(wrap(inner), ct, new HTMLRewriter().on('p', { element(e) { seen.push(show(e.getAttribute('t'))); }, text(t) { seen.push(show(t.text)); } })));
    lines.push(await inCharset(wrap(inner), ct, new HTMLRewriter().on('p', { element(e) { e.append(inserted); e.setAttribute('a', inserted); e.before(`<i>${inserted}</i>`, { html: true }); } })));
    lines.push(await inCharset(wrap(inner), ct, new HTMLRewriter().on('p', { text(t) { if (t.text !== '') t.replace(`[${t.text}]`); } })));
  }
  lines.push(await inCharset(wrap([0x41]), 'text/html; charset=iso-2022-jp', new HTMLRewriter()));
  return `${lines.join('\n')}\n${seen.join('|')}`;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/charset-multibyte') return new Response(await multiByteCharsets());
    if (url.pathname === '/streamed-content') return new Response(await streamedContent());
    if (url.pathname === '/charset') return new Response(await charsets());
    if (url.pathname === '/links') {
      return new HTMLRewriter()
        .on('a[href]', {
          element(el) {
            const href = el.getAttribute('href') ?? '';
            if (href.startsWith('http:')) el.setAttribute('href', `https:${href.slice(5)}`);
          },
        })
        .transform(html(PAGE));
    }
    if (url.pathname === '/links-streamed') {
      // The same page in 7-byte chunks: tokens split across chunks.
      const bytes = new TextEncoder().encode(PAGE);
      let at = 0;
      const upstream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= bytes.length) return c.close();
          c.enqueue(bytes.slice(at, at + 7));
          at += 7;
        },
      });
      return new HTMLRewriter()
        .on('a[href]', {
          element(el) {
            el.setAttribute('href', (el.getAttribute('href') ?? '').replace(/^http:/, 'https:'));
          },
        })
        .transform(html(upstream));
    }
    if (url.pathname === '/mutations') {
      const seen: string[] = [];
      const res = new HTMLRewriter()
        .on('#inner', { element: (el) => void el.setInnerContent('<b>not bold</b> & more') })
        .on('#inner-html', { element: (el) => void el.setInnerContent('<b>bold</b>', { html: true }) })
        .on('#around', {
          element(el) {
            el.before('<hr>', { html: true }).after('<after>').prepend('[').append('<i>]</i>', { html: true });
          },
        })
        .on('#replace', { element: (el) => void el.replace('<span>replaced</span>', { html: true }) })
        .on('#remove', { element: (el) => void el.remove() })
        .on('#unwrap', { element: (el) => void el.removeAndKeepContent() })
        .on('#attrs', {
          element(el) {
            seen.push(el.tagName, [...el.attributes].map(([k, v]) => `${k}=${v}`).join(','), String(el.hasAttribute('data-a')));
            el.removeAttribute('data-b');
            el.setAttribute('data-c', 'a "quoted" <value> & more');
            el.tagName = 'section';
            el.onEndTag((end) => {
              seen.push(`end:${end.name}`);
              end.before('<!--before end-->', { html: true });
            });
          },
        })
        .on('p.t', {
          text(t) {
            seen.push(`text:${t.text}:${t.lastInTextNode}`);
            if (t.text.includes('secret')) t.replace(t.text.replace('secret', '<redacted>'));
          },
        })
        .on('section', {
          comments(c) {
            c.text = ' changed ';
          },
        })
        .onDocument({
          doctype: (d) => void seen.push(`doctype:${d.name}`),
          end: (end) => void end.append('<footer>end</footer>', { html: true }),
        })
        .transform(html(MUTATIONS));
      const body = await res.text();
      return new Response(`${body}\n${seen.join('\n')}`);
    }
    if (url.pathname === '/async') {
      return new HTMLRewriter()
        .on('[data-wait]', {
          async element(el) {
            await new Promise((r) => setTimeout(r, Number(el.getAttribute('data-wait'))));
            el.setInnerContent(`waited ${el.getAttribute('data-wait')}`);
          },
        })
        .onDocument({
          async end(end) {
            await Promise.resolve();
            end.append('<!--end-->', { html: true });
          },
        })
        .transform(html('<p data-wait="5">a</p><p>b</p><p data-wait="1">c</p>'));
    }
    if (url.pathname === '/bad-selector') {
      try {
        new HTMLRewriter().on(url.searchParams.get('s') ?? '', {});
        return new Response('accepted');
      } catch (err) {
        const e = err as Error;
        return new Response(`${e.name}: ${e.message}`, { status: 400 });
      }
    }
    return new Response('not found', { status: 404 });
  },
};
