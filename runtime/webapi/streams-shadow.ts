// What the streams library (web-streams-polyfill's ponyfill) sees under the
// global names it uses, bound in its module scope at build time (the
// `shadowGlobals` plugin in runtime/prelude.ts imports these under those names).
//
// The library is loaded on first use, which may come after a tenant's code
// has replaced `Promise`, `Promise.prototype.then`, `queueMicrotask` or
// `Function.prototype.call`; it keeps what it finds at load for good, and
// calls `then.call`, `Function.prototype.apply.call` and
// `Object.prototype.hasOwnProperty.call` on every operation. Under these
// bindings its promises are SealedPromises and those calls go through
// intrinsics captured before any tenant code ran, so every body stream
// (ours and the worker's) keeps working as the spec says whatever the
// tenant changed.

import { apply, defineProperty, enqueueMicrotask, hasOwn, objectCreate, SealedPromise } from './intrinsics.ts';

export { SealedPromise as Promise };

export function queueMicrotask(fn: () => void): void {
  enqueueMicrotask(fn);
}

const defineProperties = Object.defineProperties;

export const Object_ = {
  create: objectCreate,
  defineProperty,
  defineProperties,
  prototype: { hasOwnProperty: { call: (o: object, key: PropertyKey): boolean => hasOwn(o, key) } },
};

export const Function_ = {
  prototype: { apply: { call: (fn: (...a: unknown[]) => unknown, self: unknown, args: unknown[]): unknown => apply(fn, self, args) } },
};
