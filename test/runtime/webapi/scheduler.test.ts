import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
beforeAll(async () => {
  iso = await createWebapiIsolate();
});
afterAll(() => iso.dispose());

describe('scheduler.wait', () => {
  it('resolves with undefined after the delay, on a timer of the request, in order of delay', async () => {
    expect(
      await iso.inRequest(`
        const order = [];
        const t0 = performance.now();
        const r = await Promise.all([scheduler.wait(30).then(() => order.push(30)), scheduler.wait(5).then(() => order.push(5)), scheduler.wait(-1).then(() => order.push(0))]);
        const waited = await scheduler.wait(20);
        return [order, waited === undefined, performance.now() - t0 >= 45, Object.prototype.toString.call(scheduler)];`),
    ).toEqual([[0, 5, 30], true, true, '[object Scheduler]']);
  });

  it('rejects with the signal reason when aborted before or during the wait, and clears its timer', async () => {
    expect(
      await iso.inRequest(`
        const out = [];
        try { await scheduler.wait(10, { signal: AbortSignal.abort(new Error('before')) }); } catch (e) { out.push(e.message); }
        const c = new AbortController();
        const p = scheduler.wait(10_000, { signal: c.signal });
        setTimeout(() => c.abort(), 5);
        try { await p; } catch (e) { out.push(e.name); }
        return out;`),
    ).toEqual(['before', 'AbortError']);
  });

});
