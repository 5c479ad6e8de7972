// performance.now() and performance.timeOrigin from the host's monotonic clock.

import { defineGlobal } from './define.ts';
import { host } from './bridge.ts';

// timeOrigin is the wall-clock time at which `now()` reads 0. Computed on first
// use, inside a booted context: the snapshot's clock would be stale.
let origin: number | undefined;

class Performance {
  constructor(token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor');
  }
  now(): number {
    return host().now();
  }
  get timeOrigin(): number {
    origin ??= Date.now() - host().now();
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
