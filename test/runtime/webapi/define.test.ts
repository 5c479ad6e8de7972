import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('defineGlobal', () => {
  // Regression: the minified prelude exposed Headers as "e" and DOMException
  // as "j", so `err.constructor.name` and stack traces showed mangled names
  // (found by the conformance suite's web-apis/names case).
  it('names every global class and function after the global it is installed as', async () => {
    const mismatched = await iso.run<string[]>(`
      const out = [];
      for (const key of Object.getOwnPropertyNames(globalThis)) {
        const v = Object.getOwnPropertyDescriptor(globalThis, key).value;
        if (typeof v === 'function' && v.name !== key) out.push(key + ' is named ' + JSON.stringify(v.name));
      }
      return out;`);
    expect(mismatched).toEqual([]);
  });

  it('reports DOMException as the constructor of thrown DOMExceptions', async () => {
    expect(await iso.run(`try { atob('$'); } catch (e) { return [e.constructor.name, e.name, e instanceof DOMException]; }`)).toEqual(['DOMException', 'InvalidCharacterError', true]);
  });
});
