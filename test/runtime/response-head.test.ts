import { describe, expect, it } from 'vitest';
import { checkResponseHead, MAX_RESPONSE_HEAD_BYTES, MAX_RESPONSE_HEADER_FIELDS } from '../../runtime/response-head.ts';

describe('checkResponseHead', () => {
  it('accepts a well-formed head', () => {
    expect(checkResponseHead(200, ['content-type', 'text/plain', 'set-cookie', 'a=1'], new Uint8Array(1))).toMatchObject({ status: 200 });
    expect(checkResponseHead(599, [], null)).toMatchObject({ body: null });
    expect(checkResponseHead(204, [], 'stream')).toMatchObject({ body: 'stream' });
  });

  it.each([
    [199, [], null, /status 199/],
    [200.5, [], null, /status 200.5/],
    ['200', [], null, /status 200/],
    [200, ['a'], null, /malformed/],
    [200, ['bad name', 'v'], null, /not a valid HTTP token/],
    [200, ['x\r\ny', 'v'], null, /not a valid HTTP token/],
    [200, ['x', 'a\r\nInjected: 1'], null, /CR, LF or NUL/],
    [200, ['x', 'a\0'], null, /CR, LF or NUL/],
    [200, ['x', 1], null, /CR, LF or NUL/],
    [200, [], 'bytes', /neither bytes/],
  ])('refuses status %j headers %j body %j', (status, headers, body, why) => {
    const r = checkResponseHead(status, headers, body);
    expect(typeof r).toBe('string');
    expect(r).toMatch(why);
  });

  it('refuses more header fields or header bytes than a response head may have, and accepts the most it may', () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => [`x-${i}`, 'v']).flat();
    expect(checkResponseHead(200, fields(MAX_RESPONSE_HEADER_FIELDS), null)).toMatchObject({ status: 200 });
    expect(checkResponseHead(200, fields(MAX_RESPONSE_HEADER_FIELDS + 1), null)).toMatch(/501 header fields are more than the 500/);
    // 'x-big' + ': ' + value + CRLF is exactly the limit.
    const most = 'a'.repeat(MAX_RESPONSE_HEAD_BYTES - 'x-big'.length - 4);
    expect(checkResponseHead(200, ['x-big', most], null)).toMatchObject({ status: 200 });
    expect(checkResponseHead(200, ['x-big', most + 'a'], null)).toMatch(/more than the 32768 a response head may have/);
  });
});
