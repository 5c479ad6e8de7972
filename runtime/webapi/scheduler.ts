// scheduler.wait(delay, { signal }) as in workerd: a promise that settles
// after `delay` ms, on a timer of the request that asked (so it runs under
// that request's budgets, like setTimeout), rejected with the signal's reason
// if the signal aborts first.

import { defineGlobal } from './define.ts';
import { arm, disarm } from './timers.ts';
import { addAbortAlgorithm, signalAborted, signalReason, type AbortSignal } from './abort.ts';

const CONSTRUCT = Symbol('Scheduler');

class Scheduler {
  constructor(token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor');
  }

  wait(delay?: number, options?: { signal?: globalThis.AbortSignal }): Promise<void> {
    const signal = options?.signal as unknown as AbortSignal | undefined;
    return new Promise<void>((resolve, reject) => {
      if (signal !== undefined && signal !== null) {
        if (signalAborted(signal)) {
          reject(signalReason(signal));
          return;
        }
      }
      let removeAbort = (): void => {};
      const id = arm(
        () => {
          removeAbort();
          resolve();
        },
        delay,
        [],
        false,
      );
      if (signal !== undefined && signal !== null) {
        removeAbort = addAbortAlgorithm(signal, () => {
          disarm(id);
          reject(signalReason(signal));
        });
      }
    });
  }
}
Object.defineProperty(Scheduler.prototype, Symbol.toStringTag, { value: 'Scheduler', configurable: true });

defineGlobal('scheduler', new Scheduler(CONSTRUCT));
