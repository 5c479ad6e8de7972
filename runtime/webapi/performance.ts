// performance.now() and performance.timeOrigin from the host's monotonic
// clock, which stands still while the worker's code runs (clock.ts).

import { defineGlobal } from './define.ts';
import { monotonicNow, wallNow } from './clock.ts';

// timeOrigin is the wall-clock time at which `now()` reads 0. Computed on first
// use, inside a booted context: the snapshot's clock would be stale. Both
// readings are the same entry's frozen ones, so the origin cannot carry how
// long the entry has run so far.
let origin: number | undefined;

class Performance {
  constructor(token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor');
  }
  now(): number {
    return monotonicNow();
  }
  get timeOrigin(): number {
    origin ??= wallNow() - monotonicNow();
    return origin;
  }
  toJSON(): { timeOrigin: number } {
    return { timeOrigin: this.timeOrigin };
  }
}
const CONSTRUCT = Symbol('Performance');
Object.defineProperty(Performance.prototype, Symbol.toStringTag, { value: 'Performance', configurable: true });

defineGlobal('Performance', Performance);
defineGlobal('performance', new Performance(CONSTRUCT));
