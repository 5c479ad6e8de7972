// The built-ins the prelude's own code calls, captured when the prelude loads:
// that is while the V8 snapshot is made, before any tenant code exists. A
// tenant shares this realm and may replace anything reachable from it
// (`Object.prototype.then`, `Promise.prototype.then`,
// `Array.prototype[Symbol.iterator]`, `Function.prototype.call`, a
// `Symbol.species` getter, `Map.prototype.get`…). Code that runs after the
// tenant's (request dispatch, body reading and streaming, host calls, timers,
// events) calls only what is captured here, so a tenant can neither change
// what the platform does nor get hold of its internal objects.
//
// The rules this file makes possible, followed across runtime/webapi/:
//  - call methods through `uncurryThis`'d captures or `apply`, never
//    `.call`/`.apply` looked up at call time;
//  - chain promises with `promiseThen`, never `.then` or `await` (an `await`
//    on a promise whose `constructor` a tenant changed calls `then`);
//  - resolve internal promises with primitives or `box`es (null-prototype
//    records): resolving with an ordinary object looks up its `then`, which a
//    tenant can define on Object.prototype;
//  - iterate arrays by index, not with `for…of`, spread or destructuring;
//  - copy arrays and bytes without species-aware methods (`slice`, `map`,
//    `subarray`…), which ask the receiver's constructor for `Symbol.species`;
//  - keep internal keyed state in SafeMap/SafeSet, whose methods are own
//    properties of a prototype no tenant can reach.
// This is how Node's `primordials` protect its internals.

const { bind, call } = Function.prototype;

/** `fn` as a function of (this, ...args) that no later change to Function.prototype can intercept. */
export const uncurryThis = bind.bind(call) as <T, A extends unknown[], R>(fn: (this: T, ...args: A) => R) => (self: T, ...args: A) => R;

export const apply = Reflect.apply;
export const construct = Reflect.construct;
export const ownKeys = Reflect.ownKeys;
export const getOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
export const defineProperty = Object.defineProperty;
export const objectCreate = Object.create;
export const getPrototypeOf = Object.getPrototypeOf;
export const setPrototypeOf = Object.setPrototypeOf;
export const objectFreeze = Object.freeze;
export const objectKeys = Object.keys;
export const isArray = Array.isArray;
export const objectToString = uncurryThis(Object.prototype.toString as (this: unknown) => string);
export const hasOwn = Object.hasOwn;

const intrinsicThen = Promise.prototype.then;
export const promiseThen = uncurryThis(intrinsicThen) as <T, R1 = T, R2 = never>(
  p: Promise<T>,
  onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
  onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
) => Promise<R1 | R2>;
const intrinsicResolve = Promise.resolve;
const intrinsicReject = Promise.reject;
const intrinsicAll = Promise.all;

/**
 * The promise class of the platform's own promises. A native promise asks
 * `constructor[Symbol.species]` on every `then` (Promise.prototype.constructor
 * and Promise[Symbol.species] are a tenant's to replace) and is resolved
 * through Promise.prototype.then when another promise adopts it. A
 * SealedPromise answers both from its own frozen class: its prototype holds
 * the intrinsic `then` (whose own `call` is the intrinsic one, for libraries
 * that write `then.call(p, …)`), its `constructor`, and its species is itself.
 */
export class SealedPromise<T> extends Promise<T> {}
// A data property, not the inherited getter: `then` reads it on every call.
defineProperty(SealedPromise, Symbol.species, { value: SealedPromise, writable: false, configurable: false });
const sealedThen = function then(this: Promise<unknown>, onFulfilled?: unknown, onRejected?: unknown): Promise<unknown> {
  return apply(intrinsicThen, this, [onFulfilled, onRejected]) as Promise<unknown>;
};
defineProperty(sealedThen, 'call', {
  value: (self: Promise<unknown>, onFulfilled?: unknown, onRejected?: unknown) => apply(intrinsicThen, self, [onFulfilled, onRejected]),
});
defineProperty(SealedPromise.prototype, 'then', { value: sealedThen, writable: false, configurable: false });
for (const [name, fn] of [
  ['resolve', intrinsicResolve],
  ['reject', intrinsicReject],
  ['all', intrinsicAll],
] as const) {
  defineProperty(SealedPromise, name, { value: fn, writable: false, configurable: false });
}
objectFreeze(sealedThen);
objectFreeze(SealedPromise.prototype);
objectFreeze(SealedPromise);

export const PromiseCtor = SealedPromise;

/** A promise already fulfilled with `value`, which must be a primitive, a box or a SealedPromise (see the rules above). */
export function resolvedWith<T>(value: T): Promise<T> {
  return new SealedPromise<T>((resolve) => resolve(value));
}

/** A promise rejected with `reason`. */
export function rejectedWith<T = never>(reason: unknown): Promise<T> {
  return new SealedPromise<T>((_, reject) => reject(reason));
}

/** Swallow a rejection of `p` (the caller handles the failure another way). */
export function ignoreRejection(p: Promise<unknown>): void {
  promiseThen(p, undefined, noop);
}

function noop(): void {}

const microtaskStart = resolvedWith<void>(undefined);
/** Run `fn` in a microtask, through nothing a tenant can replace. */
export function enqueueMicrotask(fn: () => void): void {
  promiseThen(microtaskStart, fn);
}

/** A null-prototype record: a promise resolved with one looks up no `then`. */
export function box<T extends object>(fields: T): T {
  return setPrototypeOf(fields, null) as T;
}

export const arrayPush = uncurryThis(Array.prototype.push) as <T>(arr: T[], ...items: T[]) => number;
export const arrayJoin = uncurryThis(Array.prototype.join) as (arr: readonly string[], separator: string) => string;
export const arrayIndexOf = uncurryThis(Array.prototype.indexOf) as <T>(arr: readonly T[], item: T, from?: number) => number;
export const arraySort = uncurryThis(Array.prototype.sort) as <T>(arr: T[], compare: (a: T, b: T) => number) => T[];
export const arraySplice = uncurryThis(Array.prototype.splice) as <T>(arr: T[], start: number, count: number) => T[];

/** A new plain array holding `arr[from..to)`: Array.prototype.slice asks `arr.constructor` for Symbol.species. */
export function copyArray<T>(arr: readonly T[], from = 0, to = arr.length): T[] {
  const out: T[] = [];
  for (let i = from; i < to; i++) out[i - from] = arr[i] as T;
  return out;
}

export const stringSlice = uncurryThis(String.prototype.slice) as (s: string, start: number, end?: number) => string;
export const stringToLowerCase = uncurryThis(String.prototype.toLowerCase) as (s: string) => string;
export const stringIndexOf = uncurryThis(String.prototype.indexOf) as (s: string, search: string, from?: number) => number;
export const stringCharCodeAt = uncurryThis(String.prototype.charCodeAt) as (s: string, i: number) => number;
export const stringFromCharCode = String.fromCharCode;
/** Object's static functions as loaded, for a library that calls them while a request runs (runtime/prelude.ts SHADOWS). */
export const ObjectStatics = box({
  defineProperty: Object.defineProperty,
  hasOwn: Object.hasOwn,
  entries: Object.entries,
  keys: Object.keys,
  freeze: Object.freeze,
  create: Object.create,
  prototype: box({ toString: box({ call: uncurryThis(Object.prototype.toString) as (o: unknown) => string }) }),
});
export const arrayValues = uncurryThis(Array.prototype.values) as <T>(a: readonly T[]) => ArrayIterator<T>;
/** RegExp.prototype.exec as loaded: `re.test(s)` calls whatever `exec` the worker left on the prototype. */
export const regExpExec = uncurryThis(RegExp.prototype.exec) as (re: RegExp, s: string) => RegExpExecArray | null;

export const Uint8ArrayCtor = Uint8Array;
export const ArrayBufferCtor = ArrayBuffer;
export const isView = ArrayBuffer.isView;
const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype) as object;
const getter = (proto: object, name: PropertyKey): ((self: unknown) => unknown) =>
  uncurryThis((getOwnPropertyDescriptor(proto, name) as PropertyDescriptor).get as (this: unknown) => unknown);
/** The typed array getters, which a tenant could redefine on the shared prototypes. */
export const typedArrayBuffer = getter(TypedArrayPrototype, 'buffer') as (view: ArrayBufferView) => ArrayBufferLike;
export const typedArrayByteOffset = getter(TypedArrayPrototype, 'byteOffset') as (view: ArrayBufferView) => number;
export const typedArrayByteLength = getter(TypedArrayPrototype, 'byteLength') as (view: ArrayBufferView) => number;
export const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag) as (view: unknown) => string | undefined;
export const typedArraySet = uncurryThis(Uint8Array.prototype.set as (this: Uint8Array, src: ArrayLike<number>, offset?: number) => void);
export const arrayBufferByteLength = getter(ArrayBuffer.prototype, 'byteLength') as (b: ArrayBuffer) => number;
export const dataViewBuffer = getter(DataView.prototype, 'buffer') as (v: DataView) => ArrayBufferLike;
export const dataViewByteOffset = getter(DataView.prototype, 'byteOffset') as (v: DataView) => number;
export const dataViewByteLength = getter(DataView.prototype, 'byteLength') as (v: DataView) => number;

// Built-ins the context the snapshot is made in lacks (SharedArrayBuffer)
// or has behind flags that only restored contexts get (Error.isError,
// Float16Array). Captured by boot, which also runs before any tenant code.

/** SharedArrayBuffer's byteLength getter: a brand check. */
export let sharedArrayBufferByteLength: (b: unknown) => number = () => {
  throw new TypeError('not a SharedArrayBuffer');
};
/** ES2026 Error.isError: the brand check for [[ErrorData]]. */
export let isError: (value: unknown) => boolean = (value) => value instanceof Error;
export let Float16ArrayCtor: (new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView) | undefined;

export function captureBootIntrinsics(): void {
  const g = globalThis as { SharedArrayBuffer?: SharedArrayBufferConstructor; Float16Array?: typeof Float16ArrayCtor };
  if (typeof g.SharedArrayBuffer === 'function') sharedArrayBufferByteLength = getter(g.SharedArrayBuffer.prototype, 'byteLength') as (b: unknown) => number;
  const errorIsError = (Error as unknown as { isError?: (value: unknown) => boolean }).isError;
  if (typeof errorIsError === 'function') isError = errorIsError;
  Float16ArrayCtor = g.Float16Array;
}

/** The bytes `view` covers, as a Uint8Array over the same memory (no species lookup, unlike subarray). */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  if (typedArrayTag(view) !== undefined) {
    return new Uint8ArrayCtor(typedArrayBuffer(view) as ArrayBuffer, typedArrayByteOffset(view), typedArrayByteLength(view));
  }
  const dv = view as DataView;
  return new Uint8ArrayCtor(dataViewBuffer(dv) as ArrayBuffer, dataViewByteOffset(dv), dataViewByteLength(dv));
}

/** Bytes [from, to) of `b`, over the same memory (no species lookup, unlike subarray, which a worker can replace). */
export function bytesView(b: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8ArrayCtor(typedArrayBuffer(b) as ArrayBuffer, typedArrayByteOffset(b) + from, to - from);
}

/** A fresh copy of `src` in a new ArrayBuffer of its own. */
export function copyBytes(src: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8ArrayCtor(typedArrayByteLength(src));
  typedArraySet(out, src);
  return out;
}

// Map and Set whose methods live on prototypes tenants never see: an internal
// table (requests in flight, pending host calls, timers) cannot be read or
// changed by replacing Map.prototype.get.
function makeSafe<C extends new (...args: never[]) => object>(Base: C, Safe: C): C {
  const proto = Base.prototype as object;
  for (const key of ownKeys(proto)) {
    if (key === 'constructor') continue;
    defineProperty(Safe.prototype, key, getOwnPropertyDescriptor(proto, key) as PropertyDescriptor);
  }
  objectFreeze(Safe.prototype);
  objectFreeze(Safe);
  return Safe;
}

export const SafeMap = makeSafe(
  Map,
  class SafeMap<K, V> extends Map<K, V> {},
) as MapConstructor;
export const SafeSet = makeSafe(
  Set,
  class SafeSet<T> extends Set<T> {},
) as SetConstructor;
export const SafeWeakMap = makeSafe(
  WeakMap,
  class SafeWeakMap<K extends WeakKey, V> extends WeakMap<K, V> {},
) as WeakMapConstructor;

const mapIterator = uncurryThis(Map.prototype.entries) as <K, V>(m: Map<K, V>) => MapIterator<[K, V]>;
const setIterator = uncurryThis(Set.prototype.values) as <T>(s: Set<T>) => SetIterator<T>;
const mapIteratorNext = uncurryThis(getPrototypeOf(new Map().entries()).next as (this: Iterator<unknown>) => IteratorResult<unknown>);
const setIteratorNext = uncurryThis(getPrototypeOf(new Set().values()).next as (this: Iterator<unknown>) => IteratorResult<unknown>);

/** The entries of `m` as [key, value, key, value, …], read without any iterator a tenant can patch. */
export function mapEntries<K, V>(m: Map<K, V>): Array<K | V> {
  const out: Array<K | V> = [];
  const it = mapIterator(m);
  for (let r = mapIteratorNext(it); !r.done; r = mapIteratorNext(it)) {
    const pair = r.value as [K, V];
    out[out.length] = pair[0];
    out[out.length] = pair[1];
  }
  return out;
}

/** The values of `s`, read without any iterator a tenant can patch. */
export function setValues<T>(s: Set<T>): T[] {
  const out: T[] = [];
  const it = setIterator(s);
  for (let r = setIteratorNext(it); !r.done; r = setIteratorNext(it)) out[out.length] = r.value as T;
  return out;
}
