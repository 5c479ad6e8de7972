// The host's message-rate bucket for a WebSocket client
// (limits.websocketMessagesPerSecond), on an injected clock.
import { describe, expect, it } from 'vitest';
import { MessageRate } from '../../../router/host/websocket.ts';

describe('MessageRate', () => {
  it('admits a burst of one second’s worth at once, then refills at the rate', () => {
    let now = 1_000;
    const rate = new MessageRate(5, () => now);
    for (let i = 0; i < 5; i++) expect(rate.take()).toBe(true);
    expect(rate.take()).toBe(false);
    // A fifth of a second refills one message.
    now += 199;
    expect(rate.take()).toBe(false);
    now += 1;
    expect(rate.take()).toBe(true);
    expect(rate.take()).toBe(false);
  });

  it('holds at most one second’s worth however long the client was quiet', () => {
    let now = 0;
    const rate = new MessageRate(3, () => now);
    now += 60_000;
    let admitted = 0;
    while (rate.take()) admitted++;
    expect(admitted).toBe(3);
  });

  it('admits at most rate × (1 + t) messages over t seconds of a steady flood', () => {
    let now = 0;
    const rate = new MessageRate(10, () => now);
    let admitted = 0;
    // One attempt per millisecond for 3 seconds.
    for (; now <= 3_000; now++) if (rate.take()) admitted++;
    expect(admitted).toBeLessThanOrEqual(10 * (1 + 3));
    expect(admitted).toBeGreaterThanOrEqual(10 * 3);
  });

  it('refuses a rate that is not a positive whole number', () => {
    expect(() => new MessageRate(0)).toThrow(/positive whole number, got 0/);
    expect(() => new MessageRate(1.5)).toThrow(/positive whole number, got 1\.5/);
  });
});
