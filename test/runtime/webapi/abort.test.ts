import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('AbortController/AbortSignal', () => {
  it('aborts once with an AbortError by default and fires abort listeners and onabort', async () => {
    expect(
      await iso.run(`
        const c = new AbortController(); const seen = [];
        c.signal.addEventListener('abort', (e) => seen.push('listener:' + e.type));
        c.signal.onabort = () => seen.push('onabort');
        c.abort(); c.abort('again');
        const r = c.signal.reason;
        return [seen, c.signal.aborted, r instanceof DOMException, r.name];`),
    ).toEqual([['listener:abort', 'onabort'], true, true, 'AbortError']);
  });

  it('throwIfAborted throws the reason; AbortSignal.abort carries a custom reason', async () => {
    expect(
      await iso.run(`
        try { AbortSignal.abort('why').throwIfAborted(); } catch (e) { return e; }`),
    ).toBe('why');
  });

  it('cannot be constructed directly', async () => {
    expect(await iso.run(`try { new AbortSignal(); } catch (e) { return e.constructor.name; }`)).toBe('TypeError');
  });

  it('AbortSignal.any follows the first source to abort, already-aborted sources included', async () => {
    expect(
      await iso.run(`
        const a = new AbortController(), b = new AbortController();
        const any = AbortSignal.any([a.signal, b.signal]);
        const nested = AbortSignal.any([any]);
        b.abort('b');
        const pre = AbortSignal.any([AbortSignal.abort('x')]);
        return [any.aborted, any.reason, nested.reason, pre.reason, a.signal.aborted];`),
    ).toEqual([true, 'b', 'b', 'x', false]);
  });

  it('AbortSignal.timeout aborts with a TimeoutError DOMException', async () => {
    expect(
      await iso.inRequest(`
        const s = AbortSignal.timeout(5);
        const before = s.aborted;
        await new Promise((r) => s.addEventListener('abort', r));
        return [before, s.reason.name, s.reason.code];`),
    ).toEqual([false, 'TimeoutError', 23]);
  });

  it('AbortSignal.timeout rejects negative or non-finite delays with TypeError', async () => {
    expect(await iso.run(`try { AbortSignal.timeout(-1); } catch (e) { return e.constructor.name; }`)).toBe('TypeError');
  });
});

describe('EventTarget/CustomEvent', () => {
  it('dispatches to listeners in order, honours once, and carries CustomEvent detail', async () => {
    expect(
      await iso.run(`
        const t = new EventTarget(); const seen = [];
        t.addEventListener('x', (e) => seen.push(['a', e.detail]), { once: true });
        t.addEventListener('x', (e) => seen.push(['b', e.detail]));
        t.dispatchEvent(new CustomEvent('x', { detail: 1 }));
        t.dispatchEvent(new CustomEvent('x', { detail: 2 }));
        return [seen, new CustomEvent('y') instanceof Event, new CustomEvent('y').detail];`),
    ).toEqual([[['a', 1], ['b', 1], ['b', 2]], true, null]);
  });

  it('reports a throwing listener to the log and keeps dispatching', async () => {
    const n = iso.logs.length;
    expect(
      await iso.run(`
        const t = new EventTarget(); let ran = false;
        t.addEventListener('x', () => { throw new Error('boom'); });
        t.addEventListener('x', () => { ran = true; });
        t.dispatchEvent(new Event('x'));
        return ran;`),
    ).toBe(true);
    expect(iso.logs.slice(n).join('\n')).toMatch(/boom/);
  });
});
