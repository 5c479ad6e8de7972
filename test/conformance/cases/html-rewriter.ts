import { defineCase } from '../case.ts';

export default defineCase({
  name: 'html-rewriter',
  worker: 'html-rewriter.ts',
  requests: [
    { name: 'a link rewriter turns every a[href] from http: to https: and leaves the rest byte for byte', path: '/links', status: 200, headers_compared: ['content-type'], body_compared: 'exact' },
    { name: 'the same page arriving in 7-byte chunks gives the same bytes', path: '/links-streamed', status: 200, headers_compared: ['content-type'], body_compared: 'exact' },
    { name: 'element, text, comment and document mutations, escaped unless { html: true }', path: '/mutations', status: 200, body_compared: 'exact' },
    { name: 'async handlers are awaited in document order', path: '/async', status: 200, body_compared: 'exact' },
    { name: 'a document in windows-1252, ISO-8859-1, KOI8-R, x-user-defined or windows-1253 (by its Content-Type charset) is decoded for the handlers and what they insert encoded back, unmappable characters as &#N;; unknown and UTF-16 charsets refused', path: '/charset', status: 200, body_compared: 'exact' },
    { name: 'a document in Shift_JIS, EUC-JP, EUC-KR, GBK, gb18030 or Big5 is decoded for the handlers (U+FFFD for invalid sequences) and what they insert encoded back, unmappable characters as &#N;; text given to a text handler goes out re-encoded, untouched bytes as they came; ISO-2022-JP refused', path: '/charset-multibyte', status: 200, body_compared: 'exact' },
    { name: 'streamed content (a ReadableStream or a Response) goes in as text or HTML, in order with strings; bad UTF-8, a failing stream, comments and the document end as workerd answers them', path: '/streamed-content', status: 200, body_compared: 'exact' },
    { name: 'an unsupported pseudo-class is refused at on() with lol-html\'s message', path: '/bad-selector?s=p%3Ahover', status: 400, body_compared: 'exact' },
    { name: 'an empty selector is refused at on()', path: '/bad-selector?s=', status: 400, body_compared: 'exact' },
  ],
});
