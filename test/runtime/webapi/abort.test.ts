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

  // WPT dom/events/AddEventListenerOptions-signal.any.js: the options are converted before a null listener is ignored.
  it('throws TypeError for a signal that is not an AbortSignal, null included, even when the listener is null', async () => {
    expect(
      await iso.run(`
        const t = new EventTarget();
        const name = (f) => { try { f(); return 'ok'; } catch (e) { return e.constructor.name; } };
        const seen = [];
        const opts = () => {}; opts.once = true;
        t.addEventListener('x', () => seen.push('fn-options'), opts);
        t.dispatchEvent(new Event('x')); t.dispatchEvent(new Event('x'));
        return [name(() => t.addEventListener('x', null, { signal: null })), name(() => t.addEventListener('x', () => {}, { signal: {} })),
          name(() => t.addEventListener('x', null, { signal: AbortSignal.abort() })), seen];`),
    ).toEqual(['TypeError', 'TypeError', 'ok', ['fn-options']]);
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

describe('trusted abort events', () => {
  // Regression: event-target-shim fixed isTrusted to false, so the abort
  // event the platform fires was untrusted (WPT dom/abort/event.any.js).
  it('fires abort with isTrusted true from abort(), AbortSignal.any and AbortSignal.timeout; events a worker makes are untrusted', async () => {
    expect(
      await iso.inRequest(`
        const c = new AbortController();
        const dependent = AbortSignal.any([c.signal]);
        const seen = [];
        c.signal.addEventListener('abort', (e) => seen.push(['abort', e.isTrusted, e.type, e.target === c.signal]));
        dependent.onabort = (e) => seen.push(['any', e.isTrusted]);
        c.abort();
        const timeout = AbortSignal.timeout(1);
        await new Promise((resolve) => timeout.addEventListener('abort', (e) => { seen.push(['timeout', e.isTrusted]); resolve(); }));
        const mine = new Event('abort');
        const desc = Object.getOwnPropertyDescriptor(mine, 'isTrusted');
        return [seen, mine.isTrusted, typeof desc.get, desc.get === Object.getOwnPropertyDescriptor(new Event('x'), 'isTrusted').get, desc.configurable];`),
    ).toEqual([[['abort', true, 'abort', true], ['any', true], ['timeout', true]], false, 'function', true, false]);
  });
});

describe('EventTarget dispatch (DOM §2.9)', () => {
  it('runs capture listeners first, honours stopImmediatePropagation, handleEvent objects and passive', async () => {
    expect(
      await iso.run(`
        const t = new EventTarget(); const seen = [];
        t.addEventListener('x', () => seen.push('bubble'));
        t.addEventListener('x', () => seen.push('capture'), { capture: true });
        t.addEventListener('x', { handleEvent(e) { seen.push(['object', this === obj, e.eventPhase]); } });
        const obj = { handleEvent(e) { seen.push(['object', this === obj, e.eventPhase]); } };
        t.addEventListener('y', obj);
        t.addEventListener('p', (e) => { e.preventDefault(); seen.push(['passive', e.defaultPrevented]); }, { passive: true });
        t.addEventListener('s', (e) => { e.stopImmediatePropagation(); seen.push('first'); });
        t.addEventListener('s', () => seen.push('never'));
        t.dispatchEvent(new Event('x'));
        t.dispatchEvent(new Event('y'));
        t.dispatchEvent(new Event('p', { cancelable: true }));
        const notCanceled = t.dispatchEvent(new Event('s', { cancelable: true }));
        return [seen, notCanceled];`),
    ).toEqual([['capture', 'bubble', ['object', false, 2], ['object', true, 2], ['passive', false], 'first'], true]);
  });

  it('skips listeners removed during dispatch, not ones added; a signal removes its listener; re-dispatching throws InvalidStateError', async () => {
    expect(
      await iso.run(`
        const t = new EventTarget(); const seen = [];
        const late = () => seen.push('late');
        const second = () => seen.push('second');
        t.addEventListener('x', () => { seen.push('first'); t.removeEventListener('x', second); t.addEventListener('x', late); });
        t.addEventListener('x', second);
        t.dispatchEvent(new Event('x'));
        const c = new AbortController();
        t.addEventListener('z', () => seen.push('z'), { signal: c.signal });
        c.abort();
        t.dispatchEvent(new Event('z'));
        let nested;
        t.addEventListener('n', (e) => { try { t.dispatchEvent(e); } catch (err) { nested = err.name; } });
        const cancelled = new Event('c', { cancelable: true });
        t.addEventListener('c', (e) => e.preventDefault());
        return [seen, (t.dispatchEvent(new Event('n')), nested), t.dispatchEvent(cancelled), cancelled.defaultPrevented];`),
    ).toEqual([['first'], 'InvalidStateError', false, true]);
  });
});
