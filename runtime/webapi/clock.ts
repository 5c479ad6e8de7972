// The clocks a worker can read: Date, performance.now(), console.time, an
// Event's timeStamp, Intl.DateTimeFormat's "now".
//
// They stand still while the worker's code runs. The host reads its clock
// once when it enters the isolate (a request starts, a timer fires, a fetch or
// other host operation settles, the client asks for more of a streamed body)
// and every clock read during that entry, its microtasks included, answers
// that reading. So a worker cannot time its own code: a loop measures 0 ms
// however long it spins, and time moves only across an `await` on real I/O or
// a timer. This is Cloudflare Workers' defence against Spectre-style timing
// attacks, which need a fine clock to tell a cache hit from a miss. (The
// other source of a fine clock, a second thread counting in shared memory,
// does not exist here: atomics.ts.)
//
// The freezing happens on the host side of the bridge (runtime/live-isolate.ts
// keeps the reading per entry), so an entry costs no extra call into the
// isolate; a clock read is the one bridge call it always was.
//
// Date is the engine's own, whose constructor and Date.now read the live
// system clock. It is replaced by a function that behaves like it (called,
// constructed, subclassed, with the same prototype, statics and `instanceof`)
// except that "now" is the frozen reading.

import { defineGlobal } from './define.ts';
import { host, hostReady } from './bridge.ts';
import { apply, construct, defineProperty, getOwnPropertyDescriptor, uncurryThis } from './intrinsics.ts';

// In the prelude a free `Date` is the engine's (globals.ts), whatever the global becomes.
const NativeDate = Date;
const nativeDateNow = NativeDate.now;
const nativeToString = uncurryThis(NativeDate.prototype.toString as (this: Date) => string);

/** Wall-clock epoch milliseconds, frozen for the current entry. */
export function wallNow(): number {
  // Before boot (the prelude running while the snapshot is made) there is no host.
  return hostReady() ? host().now(true) : nativeDateNow();
}

/** The host's monotonic milliseconds, frozen for the current entry. */
export function monotonicNow(): number {
  return hostReady() ? host().now(false) : 0;
}

// Strict code: the function has no own `arguments` or `caller`, like the built-in.
function FrozenDate(this: unknown, ...args: unknown[]): unknown {
  // Called as a function, Date() is the string of "now", whatever arguments it gets.
  if (new.target === undefined) return nativeToString(new NativeDate(wallNow()));
  // new.target keeps subclasses (`class D extends Date`) working: the object
  // is made by the engine's constructor with the subclass's prototype.
  return construct(NativeDate, args.length === 0 ? [wallNow()] : args, new.target);
}
defineProperty(FrozenDate, 'length', { value: 7, configurable: true });
// The same prototype object: `instanceof Date`, Date.prototype methods and
// dates made by the platform (structured clone) are all unchanged.
defineProperty(FrozenDate, 'prototype', { value: NativeDate.prototype, writable: false, enumerable: false, configurable: false });
defineProperty(NativeDate.prototype, 'constructor', { value: FrozenDate, writable: true, enumerable: false, configurable: true });
defineProperty(FrozenDate, 'now', {
  value: function now(): number {
    return wallNow();
  },
  writable: true,
  enumerable: false,
  configurable: true,
});
defineProperty(FrozenDate, 'parse', { value: NativeDate.parse, writable: true, enumerable: false, configurable: true });
defineProperty(FrozenDate, 'UTC', { value: NativeDate.UTC, writable: true, enumerable: false, configurable: true });
defineGlobal('Date', FrozenDate);

// Intl.DateTimeFormat formats "now" when given no date, reading the live clock
// (with fractionalSecondDigits, to the millisecond).
const DateTimeFormat = (globalThis as { Intl?: { DateTimeFormat?: { prototype: object } } }).Intl?.DateTimeFormat;
if (DateTimeFormat !== undefined) {
  const proto = DateTimeFormat.prototype;
  const format = getOwnPropertyDescriptor(proto, 'format');
  const getFormat = format?.get;
  if (getFormat !== undefined) {
    defineProperty(proto, 'format', {
      get(this: object) {
        const bound = apply(getFormat, this, []) as (date?: unknown) => string;
        return function format(date?: unknown): string {
          return bound(date === undefined ? wallNow() : date);
        };
      },
      enumerable: false,
      configurable: true,
    });
  }
  const toParts = getOwnPropertyDescriptor(proto, 'formatToParts')?.value as ((date?: unknown) => unknown) | undefined;
  if (toParts !== undefined) {
    defineProperty(proto, 'formatToParts', {
      value: function formatToParts(this: object, date?: unknown): unknown {
        return apply(toParts, this, [date === undefined ? wallNow() : date]);
      },
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }
}
