// What an isolate says about its response is untrusted: a worker can patch
// the built-ins our in-isolate code uses (String.prototype.toLowerCase, Array
// methods…) and so bend what reaches the host. A bad header name once reached
// node:http's writeHead in the front door and crashed it. Everything that
// leaves an isolate for HTTP is checked here, at the boundary, and a response
// that fails the check becomes ERR_BAD_RESPONSE.

// RFC 9110 §5.6.2 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5: no CR, LF or NUL in a field value (node:http rejects them too).
const BAD_VALUE = /[\r\n\0]/;

/**
 * The most header fields, and bytes of header names and values (plus ': '
 * and CRLF per field), a response head may carry. A worker could otherwise
 * send 10,000 fields or a 1 MB value, which most HTTP stacks refuse to read
 * (Node's parser and undici stop at 16 KiB, nginx's proxy buffers hold 4-8
 * KiB): seen in the tenant attack suite, the client got a parse error
 * instead of an answer. Past these the worker gets a 500 bad-response that
 * names the limit; browsers and proxies read heads of this size.
 */
export const MAX_RESPONSE_HEADER_FIELDS = 500;
export const MAX_RESPONSE_HEAD_BYTES = 32 * 1024;

export type ResponseBody = Uint8Array | null | 'stream';

export interface ResponseHead {
  status: number;
  headers: string[];
  body: ResponseBody;
}

/**
 * The header list as it crosses from the isolate: [name, value, …] joined
 * with '\n' (runtime/webapi/bridge.ts). A value a tampered-with isolate
 * smuggled a '\n' into only splits into more fields, each checked like any
 * other by checkResponseHead.
 */
export function splitHeaderLines(joined: string): string[] {
  return joined === '' ? [] : joined.split('\n');
}

/** The head as the host may use it, or why it is unusable. */
export function checkResponseHead(status: unknown, headers: unknown, body: unknown): ResponseHead | string {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return `status ${String(status)} is not an integer from 200 to 599`;
  if (!Array.isArray(headers) || headers.length % 2 !== 0) return 'the header list is malformed';
  if (headers.length / 2 > MAX_RESPONSE_HEADER_FIELDS) return `${headers.length / 2} header fields are more than the ${MAX_RESPONSE_HEADER_FIELDS} a response may have`;
  let bytes = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name: unknown = headers[i];
    const value: unknown = headers[i + 1];
    if (typeof name !== 'string' || !TOKEN.test(name)) return `header name ${JSON.stringify(String(name))} is not a valid HTTP token`;
    if (typeof value !== 'string' || BAD_VALUE.test(value)) return `the value of header ${name} contains CR, LF or NUL`;
    // Characters, as latin1 bytes: a value's code units above 0xFF were refused in the isolate (ByteString).
    bytes += name.length + value.length + 4;
  }
  if (bytes > MAX_RESPONSE_HEAD_BYTES) return `the header fields take ${bytes} bytes, more than the ${MAX_RESPONSE_HEAD_BYTES} a response head may have`;
  if (!(body === null || body === 'stream' || body instanceof Uint8Array)) return 'the body is neither bytes, a stream nor empty';
  return { status, headers: headers as string[], body: body as ResponseBody };
}
