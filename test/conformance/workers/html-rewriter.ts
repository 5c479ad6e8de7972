// HTMLRewriter (lol-html): the same handlers on edgefn's in-isolate
// WebAssembly build and on workerd's native one must produce the same bytes.

// Cloudflare's API, which the WebWorker lib this folder is typed against does not have.
interface ContentOptions {
  html?: boolean;
}
interface RewriterElement {
  tagName: string;
  readonly attributes: IterableIterator<[string, string]>;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  setAttribute(name: string, value: string): this;
  removeAttribute(name: string): this;
  before(content: string, options?: ContentOptions): this;
  after(content: string, options?: ContentOptions): this;
  prepend(content: string, options?: ContentOptions): this;
  append(content: string, options?: ContentOptions): this;
  replace(content: string, options?: ContentOptions): this;
  setInnerContent(content: string, options?: ContentOptions): this;
  remove(): this;
  removeAndKeepContent(): this;
  onEndTag(handler: (end: { name: string; before(c: string, o?: ContentOptions): unknown; after(c: string, o?: ContentOptions): unknown }) => void | Promise<void>): void;
}
interface RewriterText {
  readonly text: string;
  readonly lastInTextNode: boolean;
  replace(content: string, options?: ContentOptions): this;
}
interface RewriterComment {
  text: string;
  remove(): this;
}
interface ElementHandlers {
  element?(el: RewriterElement): void | Promise<void>;
  text?(t: RewriterText): void | Promise<void>;
  comments?(c: RewriterComment): void | Promise<void>;
}
interface DocumentHandlers {
  doctype?(d: { name: string | null }): void;
  end?(end: { append(content: string, options?: ContentOptions): unknown }): void | Promise<void>;
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

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
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
