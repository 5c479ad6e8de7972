import { describe, expect, it } from 'vitest';
import { HostWorkMeter } from '../../runtime/host-work-meter.ts';

// Times are given, not measured: the meter only does arithmetic on them.
describe('HostWorkMeter', () => {
  it('charges one op at a time its wall time, as before', () => {
    const m = new HostWorkMeter(4);
    let charged = m.start(0);
    charged += m.end(30);
    charged += m.start(100);
    charged += m.end(150);
    expect(charged).toBe(80);
  });

  // Regression: WPT WebCryptoAPI aes_gcm.https.any.js starts ~300 encrypts at once; summing
  // each one's call-to-result time counted the queue behind them and passed a 30 s budget.
  it('charges ops in flight together at most the pool size per wall ms, not the sum of their waits', () => {
    const m = new HostWorkMeter(4);
    let charged = 0;
    for (let i = 0; i < 300; i++) charged += m.start(0);
    // They finish one per ms: the last waited 300 ms; the old sum was 300·301/2 = 45150 ms.
    for (let i = 1; i <= 300; i++) charged += m.end(i);
    // 297 ms with at least 4 in flight (4 per ms), then 3, 2 and 1 for the last three.
    expect(charged).toBe(297 * 4 + 3 + 2 + 1);
  });

  it('charges two overlapping ops for their overlap twice', () => {
    const m = new HostWorkMeter(4);
    const charged = m.start(0) + m.start(10) + m.end(20) + m.end(40);
    expect(charged).toBe(10 + 2 * 10 + 20);
  });

  it('refuses a pool size that is not a whole number of at least 1', () => {
    expect(() => new HostWorkMeter(0)).toThrow(/threads must be a whole number of at least 1, got 0/);
  });
});
