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

import { arrayIndexOf, defineProperty, getOwnPropertyDescriptor, getPrototypeOf, ownKeys } from './intrinsics.ts';

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

// What each object's properties were at load, flat, four slots a property:
// object index, key, then either (value, DATA) for a data property with the
// flags built-in methods have (writable, configurable, not enumerable) or
// (getter, setter) for an accessor. Kept flat and without descriptor objects
// because every isolate carries it: measured, descriptor objects cost 59 KB of
// heap per isolate, this layout about a fifth of that. Properties a tenant
// cannot change (not configurable, or not writable) are left out.
const DATA = Symbol('data');
const captured: unknown[] = [];
// Each object's keys at load: a count that still matches means the tenant
// added none (every captured property is checked present first).
const loadKeys: PropertyKey[][] = [];
for (let o = 0; o < PRISTINE.length; o++) {
  const target = PRISTINE[o] as object;
  const keys = ownKeys(target);
  loadKeys[o] = keys;
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as PropertyKey;
    const d = getOwnPropertyDescriptor(target, key) as PropertyDescriptor;
    if (d.configurable !== true || d.enumerable === true) continue;
    if ('value' in d) {
      if (d.writable !== true) continue;
      captured.push(o, key, d.value, DATA);
    } else captured.push(o, key, d.get, d.set);
  }
}

function original(i: number): PropertyDescriptor {
  const second = captured[i + 3];
  return second === DATA
    ? { value: captured[i + 2], writable: true, enumerable: false, configurable: true }
    : { get: captured[i + 2] as () => unknown, set: second as ((v: unknown) => void) | undefined, enumerable: false, configurable: true };
}

function same(now: PropertyDescriptor, i: number): boolean {
  const second = captured[i + 3];
  if (now.enumerable !== false || now.configurable !== true) return false;
  if (second === DATA) return now.value === captured[i + 2] && now.writable === true;
  return now.get === captured[i + 2] && now.set === second;
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
  for (let i = 0; i < captured.length; i += 4) {
    const target = PRISTINE[captured[i] as number] as object;
    const key = captured[i + 1] as PropertyKey;
    const now = getOwnPropertyDescriptor(target, key);
    if (now !== undefined && same(now, i)) continue;
    if (keep(target, key, now)) defineProperty(target, key, original(i));
  }
  // Properties the tenant added (Object.prototype.then) are hidden for the load.
  for (let o = 0; o < PRISTINE.length; o++) {
    const target = PRISTINE[o] as object;
    const keys = ownKeys(target);
    const before = loadKeys[o] as PropertyKey[];
    if (keys.length === before.length) continue;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k] as PropertyKey;
      if (arrayIndexOf(before, key) >= 0) continue;
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
