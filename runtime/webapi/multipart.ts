// multipart/form-data (RFC 7578 as HTML §4.10.21.8 applies it): encoding a
// FormData for a body and parsing one for Body.formData().

import { File, blobBytes, concatBytes } from './blob.ts';
import { FormData, formDataEntries } from './form-data.ts';
import { utf8Decode, utf8Encode } from './encoding.ts';

// HTML's multipart encoding escapes these in names and filenames.
function escapeName(s: string): string {
  return s.replace(/\r\n?|\n/g, '\r\n').replace(/[\n\r"]/g, (c) => (c === '\n' ? '%0A' : c === '\r' ? '%0D' : '%22'));
}

function escapeFilename(s: string): string {
  return s.replace(/[\n\r"]/g, (c) => (c === '\n' ? '%0A' : c === '\r' ? '%0D' : '%22'));
}

export function newBoundary(): string {
  let b = '----edgefn-';
  for (let i = 0; i < 24; i++) b += ((Math.random() * 16) | 0).toString(16);
  return b;
}

/** The whole multipart body for `fd` with `boundary`. */
export function encodeMultipart(fd: FormData, boundary: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array): void => {
    chunks.push(b);
    size += b.byteLength;
  };
  for (const [name, value] of formDataEntries(fd)) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
    if (typeof value === 'string') {
      push(utf8Encode(`${head}\r\n\r\n${value.replace(/\r\n?|\n/g, '\r\n')}\r\n`));
    } else {
      head += `; filename="${escapeFilename(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`;
      push(utf8Encode(head));
      push(blobBytes(value));
      push(utf8Encode('\r\n'));
    }
  }
  push(utf8Encode(`--${boundary}--\r\n`));
  return concatBytes(chunks, size);
}

/** The boundary parameter of a multipart/form-data Content-Type, or null. */
export function boundaryOf(contentType: string): string | null {
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m === null ? null : (m[1] ?? m[2] ?? null);
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = hay.byteLength - needle.byteLength;
  outer: for (let i = hay.indexOf(first ?? 0, from); i >= 0 && i <= last; i = hay.indexOf(first ?? 0, i + 1)) {
    for (let j = 1; j < needle.byteLength; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function param(header: string, name: string): string | null {
  const re = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i');
  const m = re.exec(header);
  if (m === null) return null;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '');
}

/** Parse a multipart/form-data body; throws TypeError when it is malformed (Fetch: formData() rejects). */
export function parseMultipart(body: Uint8Array, boundary: string): FormData {
  const fd = new FormData();
  const delim = utf8Encode(`--${boundary}`);
  let pos = indexOf(body, delim, 0);
  if (pos < 0) throw new TypeError('Failed to parse body as FormData: no boundary found');
  const crlfcrlf = utf8Encode('\r\n\r\n');
  const nextDelim = utf8Encode(`\r\n--${boundary}`);
  for (;;) {
    pos += delim.byteLength;
    // `--` after a delimiter closes the body.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return fd;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw new TypeError('Failed to parse body as FormData: malformed delimiter');
    pos += 2;
    const headEnd = indexOf(body, crlfcrlf, pos);
    if (headEnd < 0) throw new TypeError('Failed to parse body as FormData: part without headers');
    const headers = utf8Decode(body.subarray(pos, headEnd)).split('\r\n');
    let disposition = '';
    let type = '';
    for (const h of headers) {
      const colon = h.indexOf(':');
      if (colon < 0) continue;
      const key = h.slice(0, colon).trim().toLowerCase();
      const value = h.slice(colon + 1).trim();
      if (key === 'content-disposition') disposition = value;
      else if (key === 'content-type') type = value;
    }
    if (!/^form-data\b/i.test(disposition)) throw new TypeError('Failed to parse body as FormData: part is not form-data');
    const name = param(disposition, 'name');
    if (name === null) throw new TypeError('Failed to parse body as FormData: part has no name');
    const filename = param(disposition, 'filename');
    const start = headEnd + 4;
    const end = indexOf(body, nextDelim, start);
    if (end < 0) throw new TypeError('Failed to parse body as FormData: unterminated part');
    const content = body.subarray(start, end);
    if (filename !== null) fd.append(name, new File([content as Uint8Array<ArrayBuffer>], filename, { type }));
    else fd.append(name, utf8Decode(content));
    pos = end + 2;
  }
}
