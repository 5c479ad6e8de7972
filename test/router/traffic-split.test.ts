// The per-request version choice of a gradual rollout, and the checks on what
// the control API is sent for one.

import { describe, expect, it } from 'vitest';
import { cookieValue, hashToUnit, parseSticky, parseTraffic, TrafficSplit } from '../../router/traffic-split.ts';

describe('TrafficSplit', () => {
  it('matches each share to within a few requests over any stretch of requests, not just on average', () => {
    const split = new TrafficSplit('f', [{ version: 7, percent: 90 }, { version: 8, percent: 10 }], null);
    for (const n of [50, 100, 1_000, 10_000]) {
      let eight = 0;
      for (let i = 0; i < n; i++) if (split.pick({}).version === 8) eight++;
      // A random draw would be off by ~3 % of n at n = 100; the Weyl sequence stays within 3 requests.
      expect(Math.abs(eight - n / 10), `n = ${n}`).toBeLessThanOrEqual(3);
    }
  });

  it('splits three ways with fractional shares', () => {
    const split = new TrafficSplit('f', [{ version: 1, percent: 33.33 }, { version: 2, percent: 33.33 }, { version: 3, percent: 33.34 }], null);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 3_000; i++) counts[split.pick({}).version]!++;
    for (const v of [1, 2, 3]) expect(Math.abs(counts[v]! - 1_000)).toBeLessThanOrEqual(3);
  });

  it('sends the same header value to the same version, and spreads many values by the shares', () => {
    const split = new TrafficSplit('f', [{ version: 1, percent: 20 }, { version: 2, percent: 80 }], { header: 'x-user' });
    const first = new Map<string, number>();
    let two = 0;
    for (let u = 0; u < 2_000; u++) {
      const v = split.pick({ 'x-user': `user-${u}` }).version;
      first.set(`user-${u}`, v);
      if (v === 2) two++;
    }
    for (let u = 0; u < 2_000; u += 7) expect(split.pick({ 'x-user': `user-${u}` }).version).toBe(first.get(`user-${u}`));
    // Hashing is not a sequence: 2,000 keys land within a few percent of the share.
    expect(two / 2_000).toBeGreaterThan(0.75);
    expect(two / 2_000).toBeLessThan(0.85);
  });

  it('keys on a cookie when asked, and splits requests without the key by share', () => {
    const split = new TrafficSplit('f', [{ version: 1, percent: 50 }, { version: 2, percent: 50 }], { cookie: 'uid' });
    const v = split.pick({ cookie: 'a=1; uid=abc; b=2' }).version;
    for (let i = 0; i < 5; i++) expect(split.pick({ cookie: `uid=abc` }).version).toBe(v);
    expect(v).toBe(hashToUnit('abc') < 0.5 ? 1 : 2);
    const keyless = new Set([0, 1, 2, 3].map(() => split.pick({ cookie: 'other=1' }).version));
    expect(keyless).toEqual(new Set([1, 2]));
  });

  it('carries each version\'s edgefn-version value, made once', () => {
    const split = new TrafficSplit('f', [{ version: 3, percent: 50 }, { version: 12, percent: 50 }], null);
    const a = split.pick({});
    const b = split.pick({});
    expect(new Set([a.header, b.header])).toEqual(new Set(['3', '12']));
    expect(split.pick({}).header).toBe(a.header);
  });
});

describe('cookieValue', () => {
  it('finds a cookie among others and ignores look-alike names', () => {
    expect(cookieValue('xuid=1; uid=2', 'uid')).toBe('2');
    expect(cookieValue(' uid = 5 ', 'uid')).toBe('5');
    expect(cookieValue('a=1', 'uid')).toBeUndefined();
    expect(cookieValue(undefined, 'uid')).toBeUndefined();
  });
});

describe('parseTraffic and parseSticky', () => {
  it('accepts shares summing to 100 and refuses everything else with the reason', () => {
    expect(parseTraffic([{ version: 1, percent: 99.5 }, { version: 2, percent: 0.5 }])).toEqual([{ version: 1, percent: 99.5 }, { version: 2, percent: 0.5 }]);
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /must be a non-empty array/],
      [[{ version: 1, percent: 60 }], /must sum to 100; they sum to 60/],
      [[{ version: 1.5, percent: 100 }], /"traffic"\[0\]\.version must be a version number/],
      [[{ version: 1, percent: '100' }], /"traffic"\[0\]\.percent must be a number of percent/],
      [[{ version: 1, percent: 101 }], /"traffic"\[0\]\.percent must be a number of percent above 0 and at most 100/],
      [[1], /"traffic"\[0\] must be an object/],
    ];
    for (const [value, message] of bad) expect(() => parseTraffic(value), JSON.stringify(value)).toThrow(message);
  });

  it('lowercases a sticky header name and refuses malformed keys', () => {
    expect(parseSticky({ header: 'X-User' })).toEqual({ header: 'x-user' });
    expect(parseSticky({ cookie: 'UID' })).toEqual({ cookie: 'UID' });
    expect(parseSticky(null)).toBeNull();
    expect(() => parseSticky({ header: 'x', cookie: 'y' })).toThrow(/must be \{ "header": "<name>" \} or \{ "cookie": "<name>" \}/);
    expect(() => parseSticky({ cookie: 'a;b' })).toThrow(/"sticky".cookie must be a cookie name/);
  });
});
