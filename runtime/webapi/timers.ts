// setTimeout and friends. The host owns the clock: it calls `tick(id)` through
// an entry that runs under the CPU budget of the request that armed the timer,
// so code after an `await` on a timer can never run outside a budget.

import { defineGlobal } from './define.ts';
import { getCurrentRequest, host, setCurrentRequest } from './bridge.ts';
import { reportError } from './console.ts';
import { apply, mapEntries, SafeMap } from './intrinsics.ts';

interface Timer {
  fn: (...args: unknown[]) => void;
  args: unknown[];
  interval: number;
  request: number;
}

const timers = new SafeMap<number, Timer>();
let nextId = 1;

// HTML: a delay that is not a finite non-negative number is 0. workerd clamps the
// same way; the host is free to fire late, never early.
function normalizeDelay(ms: unknown): number {
  const n = Number(ms);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Set a timer for the current request; setTimeout and setInterval are this. */
export function arm(fn: unknown, ms: unknown, args: unknown[], repeat: boolean): number {
  if (typeof fn !== 'function') throw new TypeError('The callback provided as parameter 1 is not a function.');
  const request = getCurrentRequest();
  // As in workerd: a timer belongs to a request, whose budgets it runs under.
  if (request === 0) throw new Error('Timers can only be set while handling a request, not at the top level of a worker script.');
  const delay = normalizeDelay(ms);
  const id = nextId++;
  timers.set(id, { fn: fn as Timer['fn'], args, interval: repeat ? (delay > 1 ? delay : 1) : -1, request });
  host().timer(id, delay, request);
  return id;
}

export function disarm(id: unknown): void {
  const n = Number(id);
  if (timers.delete(n)) host().clearTimer(n);
}

/** Entry: the host says timer `id` is due. */
export function tick(id: number): void {
  const t = timers.get(id);
  if (t === undefined) return;
  setCurrentRequest(t.request);
  if (t.interval < 0) timers.delete(id);
  else host().timer(id, t.interval, t.request);
  try {
    apply(t.fn, undefined, t.args);
  } catch (err) {
    reportError(err);
  }
}

/** Drop every timer a finished or cancelled request left behind. */
export function clearRequestTimers(request: number): void {
  const entries = mapEntries(timers);
  for (let i = 0; i < entries.length; i += 2) {
    const id = entries[i] as number;
    if ((entries[i + 1] as Timer).request === request) {
      timers.delete(id);
      host().clearTimer(id);
    }
  }
}

defineGlobal('setTimeout', function setTimeout(fn: unknown, ms?: unknown, ...args: unknown[]) {
  return arm(fn, ms, args, false);
});
defineGlobal('setInterval', function setInterval(fn: unknown, ms?: unknown, ...args: unknown[]) {
  return arm(fn, ms, args, true);
});
defineGlobal('clearTimeout', function clearTimeout(id?: unknown) {
  disarm(id);
});
defineGlobal('clearInterval', function clearInterval(id?: unknown) {
  disarm(id);
});
