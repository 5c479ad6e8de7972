// Library code that loads on first use (the streams library, whatwg-url, and
// esbuild's own require helpers around them) runs its module body then, which
// may be after a tenant's code replaced built-ins that module bodies call or
// keep: Array.prototype[Symbol.iterator], Function.prototype.call,
// Promise.prototype.then, a Symbol.species getter, an Object.prototype.then.
// Loading them eagerly would cost every isolate their heap
// (docs/web-platform-libs.md: lazy globals). Instead, `pristine(load)` puts
// back the built-ins as they were when the prelude loaded, runs `load`, and
// then restores the tenant's changes: no tenant code runs in between, so the
// tenant can neither see nor steer the load, and what the library captured
// at load is the original.
//
// Covered: every own property of the objects listed in PRISTINE below, as
// captured in the snapshot (properties a tenant added are removed for the
// load). A property the tenant made non-configurable cannot be put back; the
// load then sees the tenant's value.

import { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, ownKeys } from './intrinsics.ts';

const ArrayIteratorPrototype = getPrototypeOf([][Symbol.iterator]()) as object;
const IteratorPrototype = getPrototypeOf(ArrayIteratorPrototype) as object;
const TypedArray = getPrototypeOf(Uint8Array) as object;

const PRISTINE: readonly object[] = [
  Object,
  Object.prototype,
  Function.prototype,
  Array,
  Array.prototype,
  ArrayIteratorPrototype,
  IteratorPrototype,
  Promise,
  Promise.prototype,
  Map.prototype,
  Set.prototype,
  WeakMap.prototype,
  WeakSet.prototype,
  Reflect,
  Symbol,
  String.prototype,
  RegExp.prototype,
  ArrayBuffer,
  ArrayBuffer.prototype,
  TypedArray,
  (TypedArray as { prototype: object }).prototype,
  Uint8Array.prototype,
];

// [object index, key, descriptor, …] for every own property, as loaded.
const captured: unknown[] = [];
for (let o = 0; o < PRISTINE.length; o++) {
  const target = PRISTINE[o] as object;
  const keys = ownKeys(target);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as PropertyKey;
    captured[captured.length] = o;
    captured[captured.length] = key;
    captured[captured.length] = getOwnPropertyDescriptor(target, key);
  }
}

function same(a: PropertyDescriptor, b: PropertyDescriptor): boolean {
  return a.value === b.value && a.get === b.get && a.set === b.set && a.writable === b.writable && a.enumerable === b.enumerable && a.configurable === b.configurable;
}

export function pristine<T>(load: () => T): T {
  // What the tenant had, to put back: [target, key, descriptor or undefined (absent), …].
  const changed: unknown[] = [];
  const keep = (target: object, key: PropertyKey, now: PropertyDescriptor | undefined): boolean => {
    if (now !== undefined && now.configurable === false) return false;
    changed[changed.length] = target;
    changed[changed.length] = key;
    changed[changed.length] = now;
    return true;
  };
  for (let i = 0; i < captured.length; i += 3) {
    const target = PRISTINE[captured[i] as number] as object;
    const key = captured[i + 1] as PropertyKey;
    const original = captured[i + 2] as PropertyDescriptor;
    const now = getOwnPropertyDescriptor(target, key);
    if (now !== undefined && same(now, original)) continue;
    if (keep(target, key, now)) defineProperty(target, key, original);
  }
  // Properties the tenant added (Object.prototype.then) are hidden for the load.
  for (let o = 0; o < PRISTINE.length; o++) {
    const target = PRISTINE[o] as object;
    const keys = ownKeys(target);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k] as PropertyKey;
      if (isCaptured(o, key)) continue;
      const now = getOwnPropertyDescriptor(target, key);
      if (keep(target, key, now)) delete (target as Record<PropertyKey, unknown>)[key];
    }
  }
  try {
    return load();
  } finally {
    for (let i = changed.length - 3; i >= 0; i -= 3) {
      const target = changed[i] as object;
      const key = changed[i + 1] as PropertyKey;
      const desc = changed[i + 2] as PropertyDescriptor | undefined;
      if (desc === undefined) delete (target as Record<PropertyKey, unknown>)[key];
      else defineProperty(target, key, desc);
    }
  }
}

function isCaptured(object: number, key: PropertyKey): boolean {
  for (let i = 0; i < captured.length; i += 3) if (captured[i] === object && captured[i + 1] === key) return true;
  return false;
}
