// The small members of WorkerGlobalScope: self, navigator, queueMicrotask.

import { defineGlobal } from './define.ts';
import { reportError } from './console.ts';
import { apply, enqueueMicrotask } from './intrinsics.ts';

defineGlobal('self', globalThis);

class Navigator {
  get userAgent(): string {
    return 'edgefn';
  }
}
Object.defineProperty(Navigator.prototype, Symbol.toStringTag, { value: 'Navigator', configurable: true });
defineGlobal('navigator', new Navigator());

defineGlobal('queueMicrotask', function queueMicrotask(callback: VoidFunction): void {
  if (typeof callback !== 'function') throw new TypeError("Failed to execute 'queueMicrotask': parameter 1 is not of type 'Function'.");
  // As in HTML: an exception in the callback is reported, not turned into an
  // unhandled rejection.
  enqueueMicrotask(() => {
    try {
      apply(callback, undefined, []);
    } catch (err) {
      reportError(err);
    }
  });
});
