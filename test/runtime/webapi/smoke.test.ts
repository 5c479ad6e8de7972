import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('smoke', () => {
  it('runs', async () => {
    expect(await iso.run(`return typeof Headers + typeof Response + typeof URL + typeof ReadableStream`)).toBe('functionfunctionfunctionfunction');
    expect(await iso.run(`return new URL('https://Example.COM/a/../b?x#y').href`)).toBe('https://example.com/b?x#y');
    expect(await iso.run(`return await new Response('hi').text()`)).toBe('hi');
    expect(await iso.inRequest(`return await new Promise(r => setTimeout(() => r(5), 5))`)).toBe(5);
  });
});
