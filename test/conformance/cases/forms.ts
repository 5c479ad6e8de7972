import { defineCase } from '../case.ts';

const BOUNDARY = '----conformance7MA4YWxkTrZu0gW';
const CRLF = '\r\n';
const multipart = [
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="title"',
  '',
  'Grüße',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="tag"',
  '',
  'a',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="tag"',
  '',
  'b',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="upload"; filename="notes.txt"',
  'Content-Type: text/plain',
  '',
  'line one\r\nline two',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="bin"; filename="data.bin"',
  'Content-Type: application/octet-stream',
  '',
  '\u0000\u0001binary',
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="untyped"; filename="plain.txt"',
  '',
  'no content type',
  `--${BOUNDARY}--`,
  '',
].join(CRLF);

// What a browser sends for a file input with no file chosen.
const emptyFileInput = [`--${BOUNDARY}`, 'Content-Disposition: form-data; name="attachment"; filename=""', 'Content-Type: application/octet-stream', '', '', `--${BOUNDARY}--`, ''].join(CRLF);

export default defineCase({
  name: 'forms',
  worker: 'forms.ts',
  requests: [
    { name: 'urlencoded: repeated keys, +, percent escapes and empty values', method: 'POST', path: '/parse', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'tag=x&tag=y&name=J%C3%BCrgen+M&empty=&flag', status: 200, body_compared: 'json' },
    { name: 'urlencoded with a charset parameter', method: 'POST', path: '/parse', headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' }, body: 'a=1', status: 200, body_compared: 'json' },
    { name: 'multipart: text fields, repeated fields and File fields', method: 'POST', path: '/parse', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: multipart, status: 200, body_compared: 'json' },
    {
      name: 'multipart: a file input with no file chosen (filename="")',
      method: 'POST',
      path: '/parse',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: emptyFileInput,
      status: 200,
      body_compared: 'json',
      skip: 'workerd yields the string "" for a part with filename=""; edgefn yields an empty File named "", as the Fetch multipart/form-data parser says (a filename parameter, even empty, makes a File)',
    },
    { name: 'multipart with a quoted boundary', method: 'POST', path: '/parse', headers: { 'content-type': `multipart/form-data; boundary="${BOUNDARY}"` }, body: multipart, status: 200, body_compared: 'json' },
    { name: 'an unsupported content type makes formData() throw TypeError', method: 'POST', path: '/parse', headers: { 'content-type': 'text/plain' }, body: 'a=1', status: 400, body_compared: 'json' },
    { name: 'multipart missing its closing boundary throws', method: 'POST', path: '/parse', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n`, status: 400, body_compared: 'json' },
    { name: 'FormData serialised by a Response parses back, File and Blob fields included', path: '/build', status: 200, body_compared: 'json' },
    { name: 'URLSearchParams body: content type and encoding', path: '/urlencoded-body', status: 200, body_compared: 'json' },
  ],
});
