// What an isolate host tells the front door about its requests in flight
// (router/host/connections.ts): a 'tick' every TICK_MS while it serves, with
// the requests in flight past TICK_MS, and nothing while a tick would only
// repeat the empty one the front door already has.
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TICK_MS, type FromHost } from '../../../router/host-protocol.ts';
import { ConnectionLedger } from '../../../router/host/connections.ts';

type Tick = Extract<FromHost, { t: 'tick' }>;

function ledger(): { ledger: ConnectionLedger; ticks: Tick[] } {
  const ticks: Tick[] = [];
  const record = (m: FromHost) => {
    if (m.t === 'tick') ticks.push(m);
  };
  return { ledger: new ConnectionLedger({ send: record, sendNow: record }), ticks };
}

/** Wait (timers may run late on a loaded machine) until `ok`, at most 5 s. */
async function until(ok: () => boolean): Promise<void> {
  for (const end = performance.now() + 5_000; !ok() && performance.now() < end; ) await sleep(TICK_MS);
}

describe('ConnectionLedger ticks', () => {
  it('says it is serving once, then nothing while no request outlasts a tick, and says so when one does and when it ends', async () => {
    const { ledger: l, ticks } = ledger();
    const a = new Socket();
    const b = new Socket();
    l.adopt(1, a);
    l.adopt(2, b);
    // Many short requests, each over before a tick could see it.
    for (let i = 0; i < 20; i++) {
      l.start(a);
      l.head(a);
      l.end(a);
      await sleep(TICK_MS / 2);
    }
    // One tick, said at once when serving began; none repeat it. (On a
    // loaded machine a 1 ms sleep can outlast QUIET_AFTER_MS: ticking then
    // stops, said by a quiet tick, and starts again. What must never be sent
    // is a tick that repeats the one before it, or one naming a connection.)
    expect(ticks[0]).toEqual({ t: 'tick', waiting: [], streaming: [], quiet: false });
    for (const [i, t] of ticks.entries()) {
      expect([t.waiting, t.streaming]).toEqual([[], []]);
      if (i > 0) expect(t.quiet).not.toBe(ticks[i - 1]!.quiet);
    }
    // A request on b still waiting for its head after a tick is reported.
    l.start(b);
    await until(() => ticks.at(-1)!.waiting.length > 0);
    expect(ticks.at(-1)).toEqual({ t: 'tick', waiting: [2], streaming: [], quiet: false });
    // Its head: reported at once as streaming (it was said to be waiting).
    l.head(b);
    expect(ticks.at(-1)).toEqual({ t: 'tick', waiting: [], streaming: [2], quiet: false });
    const before = ticks.length;
    l.end(b);
    // The next tick empties the lists (that changed), then ticks stop: quiet.
    await until(() => ticks.at(-1)!.quiet);
    const after = ticks.slice(before);
    expect(after[0]).toEqual({ t: 'tick', waiting: [], streaming: [], quiet: false });
    expect(after.at(-1)).toEqual({ t: 'tick', waiting: [], streaming: [], quiet: true });
    expect(after.length).toBe(2);
    a.destroy();
    b.destroy();
  });
});
