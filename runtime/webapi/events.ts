// Event, EventTarget (event-target-shim 6) and CustomEvent (ours: the shim has none).

import { Event, EventTarget, setErrorHandler, setWarningHandler } from 'event-target-shim';
import { defineGlobal } from './define.ts';
import { reportError } from './console.ts';

// A listener that throws must not stop dispatch; like a browser, report it and
// go on. The shim's default would look for `process` or `window`.
setErrorHandler((err) => reportError(err));
// The shim warns about misuse (e.g. preventDefault on a non-cancelable event);
// browsers are silent there, and a tenant's log should be too.
setWarningHandler(() => {});

export { Event, EventTarget };

export class CustomEvent<T = unknown> extends Event {
  #detail: T | null;
  constructor(type: string, init?: CustomEventInit<T>) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'CustomEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#detail = init?.detail ?? null;
  }
  get detail(): T | null {
    return this.#detail;
  }
}
Object.defineProperty(CustomEvent.prototype, Symbol.toStringTag, { value: 'CustomEvent', configurable: true });

defineGlobal('Event', Event);
defineGlobal('EventTarget', EventTarget);
defineGlobal('CustomEvent', CustomEvent);
