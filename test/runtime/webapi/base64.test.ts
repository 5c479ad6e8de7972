import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('btoa/atob', () => {
  it('round-trips Latin-1 and handles padding and whitespace', async () => {
    expect(
      await iso.run(`
        const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
        return [btoa(''), btoa('f'), btoa('fo'), btoa('foo'), atob(btoa(all)) === all, atob(' Zm9v\\nYg== '), atob('Zm9vYg'), atob('Zg')];`),
    ).toEqual(['', 'Zg==', 'Zm8=', 'Zm9v', true, 'foob', 'foob', 'f']);
  });

  it('throws InvalidCharacterError DOMExceptions on bad input', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const f of [() => btoa('€'), () => atob('Zm9vY'), () => atob('Zm9v=='), () => atob('Zm*v'), () => atob('Z=m9'), () => atob('Zg=')]) {
          try { f(); out.push('ok'); } catch (e) { out.push(e instanceof DOMException ? e.name + ':' + e.code : e.constructor.name); }
        }
        return out;`),
    ).toEqual(Array(6).fill('InvalidCharacterError:5'));
  });

  it('stringifies its argument, so atob(undefined) fails on the 9-character "undefined"', async () => {
    expect(await iso.run(`let e; try { atob(undefined); } catch (x) { e = x.name; } return [btoa(null), btoa(undefined), e]`)).toEqual(['bnVsbA==', 'dW5kZWZpbmVk', 'InvalidCharacterError']);
  });
});

describe('DOMException', () => {
  it('has name, message, legacy code and constants, and is an Error', async () => {
    expect(
      await iso.run(`
        const e = new DOMException('m', 'AbortError');
        return [e.name, e.message, e.code, DOMException.ABORT_ERR, e instanceof Error, new DOMException().name, new DOMException('x', 'Custom').code,
                Object.prototype.toString.call(e), Object.keys(e).length, String(e)];`),
    ).toEqual(['AbortError', 'm', 20, 20, true, 'Error', 0, '[object DOMException]', 0, 'AbortError: m']);
  });

  // WPT webidl/ecmascript-binding/es-exceptions/DOMException-custom-bindings.any.js and
  // url/urlsearchparams-constructor.any.js ("DOMException as argument"): Node 24 passes them.
  it('has enumerable, brand-checked name, message and code accessors on its prototype', async () => {
    expect(
      await iso.run(`
        const name = (f) => { try { f(); return 'ok'; } catch (e) { return e.constructor.name; } };
        const d = (k) => Object.getOwnPropertyDescriptor(DOMException.prototype, k);
        const e = new DOMException('m', 'SyntaxError');
        return [d('name').enumerable, d('message').enumerable, d('code').enumerable, name(() => d('name').get.call({})), name(() => d('message').get.call({})),
          name(() => DOMException.prototype.toString()), name(() => new URLSearchParams(DOMException.prototype)), e.name, e.message, e.code, e.stack.startsWith('SyntaxError: m')];`),
    ).toEqual([true, true, true, 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'SyntaxError', 'm', 12, true]);
  });
});
