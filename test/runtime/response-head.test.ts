import { describe, expect, it } from 'vitest';
import { checkResponseHead } from '../../runtime/response-head.ts';

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
});
