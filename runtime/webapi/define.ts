// How a Web API becomes a global. Adding an API to the isolate is adding a file
// that calls `defineGlobal` and listing it in apis.ts.
//
// Globals are defined like the Web IDL says for interfaces and operations:
// writable, configurable, not enumerable. `lazy` defers building a value until
// the first touch, so code that a function never uses stays unparsed in the
// snapshot and costs no heap (see docs/web-platform-libs.md: lazy globals).
// A lazy global is made on first touch, after the worker's top level ran, so
// it is defined with the captured defineProperty, never the worker's.

import { defineProperty } from './intrinsics.ts';

export function defineGlobal(name: string, value: unknown): void {
  // The prelude is minified, which renames classes and functions (`Headers`
  // became "e", DOMException "j"). Tenants see these names in
  // `err.constructor.name`, in logs and in stack traces, and Web IDL gives each
  // interface object and operation its own name, so a global carries the name
  // it is installed under.
  if (typeof value === 'function' && value.name !== name) defineProperty(value, 'name', { value: name, configurable: true });
  defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

export function defineLazyGlobal(name: string, make: () => unknown): void {
  defineProperty(globalThis, name, {
    configurable: true,
    enumerable: false,
    get() {
      const value = make();
      defineGlobal(name, value);
      return value;
    },
    set(value: unknown) {
      defineGlobal(name, value);
    },
  });
}

const warmers: Array<() => void> = [];

/** Work to do while an isolate waits in the pool (touch lazy classes off the request path). */
export function onWarm(fn: () => void): void {
  warmers.push(fn);
}

export function runWarmers(): void {
  for (const w of warmers) w();
}
