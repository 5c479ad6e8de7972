// The isolate's clocks stand still while a worker's code runs and move only
// across waits on timers and I/O (runtime/webapi/clock.ts). Run through the
// webapi harness, whose entries freeze the clock as LiveIsolate's do; the
// production path is covered by test/runtime/frozen-clock.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

let iso: WebapiIsolate;
let server: Server;
let origin = '';

beforeAll(async () => {
  // Answers after 30 ms, so a fetch is a wait on I/O the clock must move across.
  server = createServer((_req, res) => void setTimeout(() => res.end('ok'), 30));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  iso = await createWebapiIsolate({ fetch: { allow: ['127.0.0.1'] } });
});
afterAll(async () => {
  iso.dispose();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

// A spin the worker cannot time: bounded by iterations (1e8 additions, 50 ms
// or more here); the host times the whole request to show it really ran > 20 ms.
const SPIN = `let x = 0; for (let i = 0; i < 1e8; i++) x += i; if (x === 1) throw new Error('never');`;

describe('frozen clocks', () => {
  it('measures 0 ms for a spin with Date.now, new Date, performance.now and Intl.DateTimeFormat', async () => {
    const started = performance.now();
    const [date, dateObj, perf, intl] = await iso.inRequest<[number, number, number, boolean]>(`
      const d0 = Date.now(), o0 = new Date(), p0 = performance.now();
      const f = new Intl.DateTimeFormat('en', { second: 'numeric', fractionalSecondDigits: 3 });
      const s0 = f.format();
      ${SPIN}
      await Promise.resolve();
      return [Date.now() - d0, new Date().getTime() - o0.getTime(), performance.now() - p0, f.format() === s0];`);
    expect(performance.now() - started).toBeGreaterThan(20);
    expect([date, dateObj, perf, intl]).toEqual([0, 0, 0, true]);
  });

  it('moves across a timer and a fetch', async () => {
    const [afterTimer, afterFetch, perfTimer] = await iso.inRequest<[number, number, number]>(`
      const d0 = Date.now(), p0 = performance.now();
      await new Promise((r) => setTimeout(r, 5));
      const d1 = Date.now(), p1 = performance.now();
      await (await fetch('${origin}/')).text();
      return [d1 - d0, Date.now() - d1, p1 - p0];`);
    expect(afterTimer).toBeGreaterThanOrEqual(5);
    expect(perfTimer).toBeGreaterThanOrEqual(5);
    expect(afterFetch).toBeGreaterThanOrEqual(25);
  });

  it('keeps Date otherwise the built-in one', async () => {
    expect(
      await iso.inRequest(`
        class Sub extends Date { year() { return this.getUTCFullYear(); } }
        const s = new Sub(0);
        const now = new Date();
        return [
          new Date(86400000).toISOString(), new Date('2020-01-02T03:04:05Z').getTime(), new Date(2020, 0, 2).getDate(),
          Date.UTC(2020, 0, 1), Date.parse('2020-01-01T00:00:00Z'), Date.length, Date.name,
          now instanceof Date, s instanceof Date, s instanceof Sub, s.year(), Object.prototype.toString.call(now),
          now.constructor === Date, Date.prototype.constructor === Date, typeof Date(), Date() === now.toString(),
          Math.abs(now.getTime() - Date.now()) === 0, isNaN(new Date(undefined).getTime()), structuredClone(new Date(5)).getTime(),
        ];`),
    ).toEqual([
      '1970-01-02T00:00:00.000Z', Date.parse('2020-01-02T03:04:05Z'), 2,
      Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 1), 7, 'Date',
      true, true, true, 1970, '[object Date]',
      true, true, 'string', true,
      true, true, 5,
    ]);
  });

  it('reads a wall clock close to the host one', async () => {
    const t = await iso.inRequest<number>('return Date.now();');
    expect(Math.abs(t - Date.now())).toBeLessThan(5_000);
  });
});
