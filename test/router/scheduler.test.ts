// The scheduler against a wall clock that steps (NTP, a resumed VM, an
// operator): timers count monotonic time, cron times are wall-clock times.
// The clock is the scheduler's injected `now`; the timers are real, so each
// case waits a little real time (bounded by the recheck interval, 50 ms here).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Scheduler } from '../../router/scheduler.ts';
import { nextRunMs } from '../../router/cron.ts';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A scheduler for one function with `crons`, on a clock `offset.ms` away from the real one. */
function scheduler(crons: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'edgefn-scheduler-'));
  const offset = { ms: 0 };
  const runs: Array<{ scheduledTime: number; at: number }> = [];
  const now = () => Date.now() + offset.ms;
  const s = new Scheduler({
    dbPath: join(dir, 'edgefn.db'),
    schedules: () => [{ name: 'f', version: 1, crons }],
    run: async (_name, _version, _cron, scheduledTime) => {
      runs.push({ scheduledTime, at: now() });
      return { outcome: 'ok', cpuMs: 0 };
    },
    log: () => {},
    now,
    recheckMs: 50,
  });
  cleanup.push(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { s, offset, runs, now };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms: number): Promise<void> {
  for (const end = performance.now() + ms; !what() && performance.now() < end; ) await sleep(10);
}

describe('scheduler and a stepping wall clock', () => {
  it('does not fire early when the clock steps back an hour', async () => {
    const { s, offset, runs, now } = scheduler(['* * * * * *']);
    s.start();
    offset.ms = -3_600_000;
    // The timer armed before the step comes due within a second of real
    // time; by the clock, its time is an hour away.
    await sleep(1_500);
    expect(runs).toEqual([]);
    // And once the clock is back, the schedule runs again, never ahead of it.
    offset.ms = 0;
    await until(() => runs.length >= 2, 5_000);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const r of runs) expect(r.scheduledTime).toBeLessThanOrEqual(r.at);
    expect(runs.at(-1)!.at).toBeLessThanOrEqual(now());
  });

  it('fires once, within the recheck interval, when the clock steps forward past a time months away', async () => {
    const cron = '0 0 1 1 *';
    const { s, offset, runs } = scheduler([cron]);
    s.start();
    const next = nextRunMs(cron, Date.now())!;
    offset.ms = next - Date.now() + 10;
    await until(() => runs.length > 0, 2_000);
    expect(runs.map((r) => r.scheduledTime)).toEqual([next]);
    // No backlog and no repeat: the next time is a year later.
    await sleep(300);
    expect(runs).toHaveLength(1);
  });

  it('refuses a recheck interval that is not a positive number of ms', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefn-scheduler-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    expect(() => new Scheduler({ dbPath: join(dir, 'x.db'), schedules: () => [], run: async () => ({ outcome: 'ok', cpuMs: 0 }), log: () => {}, recheckMs: 0 })).toThrow(/recheckMs must be a positive number of ms, got 0/);
  });
});
