// structuredClone (HTML §2.7: StructuredSerializeWithTransfer followed by
// StructuredDeserializeWithTransfer, done as one walk since both ends are in
// this realm). Our own rather than @ungap/structured-clone, which lost -0
// after a +0 in the same graph (its memory map is keyed by value), could not
// clone Blob or File, threw TypeError where HTML says DataCloneError, and
// went through Array.prototype[Symbol.iterator], Map.prototype.set and
// friends, which a tenant can replace. Every type is recognised by a brand
// check (a captured getter that throws on anything else), never by
// Symbol.toStringTag, which any object can fake.

import { defineGlobal } from './define.ts';
import { DOMException } from './dom-exception.ts';
import { cloneBlob } from './blob.ts';
import {
  ArrayBufferCtor,
  SafeMap,
  Uint8ArrayCtor,
  construct,
  defineProperty,
  getOwnPropertyDescriptor,
  isArray,
  mapEntries,
  objectCreate,
  objectToString,
  ownKeys,
  setValues,
  isError,
  Float16ArrayCtor,
  box,
  sharedArrayBufferByteLength,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
  typedArraySet,
  typedArrayTag,
  uncurryThis,
  dataViewBuffer,
  dataViewByteLength,
  dataViewByteOffset,
} from './intrinsics.ts';

type Brand<T> = (value: unknown) => T;
const brand = <T>(proto: object, name: PropertyKey): Brand<T> => {
  const desc = getOwnPropertyDescriptor(proto, name) as PropertyDescriptor;
  return uncurryThis((desc.get ?? desc.value) as (this: unknown) => T);
};

const booleanValue = brand<boolean>(Boolean.prototype, 'valueOf');
const numberValue = brand<number>(Number.prototype, 'valueOf');
const stringValue = brand<string>(String.prototype, 'valueOf');
const bigintValue = brand<bigint>(BigInt.prototype, 'valueOf');
const dateValue = brand<number>(Date.prototype, 'getTime');
const regExpSource = brand<string>(RegExp.prototype, 'source');
const regExpFlags = brand<string>(RegExp.prototype, 'flags');
const regExpGlobal = brand<boolean>(RegExp.prototype, 'global');
const arrayBufferByteLength = brand<number>(ArrayBuffer.prototype, 'byteLength');
const arrayBufferResizable = brand<boolean>(ArrayBuffer.prototype, 'resizable');
const arrayBufferMaxByteLength = brand<number>(ArrayBuffer.prototype, 'maxByteLength');
const arrayBufferDetached = brand<boolean>(ArrayBuffer.prototype, 'detached');
const arrayBufferTransfer = brand<ArrayBuffer>(ArrayBuffer.prototype, 'transfer') as unknown as (b: ArrayBuffer, length?: number) => ArrayBuffer;
const mapSize = brand<number>(Map.prototype, 'size');
const setSize = brand<number>(Set.prototype, 'size');
const mapSet = uncurryThis(Map.prototype.set) as (m: Map<unknown, unknown>, k: unknown, v: unknown) => Map<unknown, unknown>;
const setAdd = uncurryThis(Set.prototype.add) as (s: Set<unknown>, v: unknown) => Set<unknown>;
// Free references to Map, Object, Date… are bound to the built-ins at load
// (webapi/globals.ts), so they are used directly below.
const ObjectPrototype = Object.prototype;

/** Runs `check` as a brand check: true when it does not throw. */
function is<T>(check: Brand<T>, value: unknown): boolean {
  try {
    check(value);
    return true;
  } catch {
    return false;
  }
}

// Null-prototype: an error's name (anything, e.g. "constructor") is looked up here.
const ERROR_TYPES: Record<string, ErrorConstructor> = box({
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
});

// HTML clones message and cause; V8 (as in Node and Chrome) keeps the stack too.
const ERROR_FIELDS = ['message', 'cause', 'stack'];

const TYPED_ARRAYS: Record<string, new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

function cannotClone(what: string): DOMException {
  return new DOMException(`Failed to execute 'structuredClone': ${what} could not be cloned.`, 'DataCloneError');
}

/** The values whose copy exists already: shared references and cycles clone to one copy. */
type Memory = Map<unknown, unknown>;

function cloneBuffer(buffer: ArrayBuffer, memory: Memory): ArrayBuffer {
  if (arrayBufferDetached(buffer)) throw new DOMException("Failed to execute 'structuredClone': An ArrayBuffer is detached and could not be cloned.", 'DataCloneError');
  const length = arrayBufferByteLength(buffer);
  const copy = arrayBufferResizable(buffer) ? new ArrayBufferCtor(length, { maxByteLength: arrayBufferMaxByteLength(buffer) }) : new ArrayBufferCtor(length);
  typedArraySet(new Uint8ArrayCtor(copy), new Uint8ArrayCtor(buffer));
  mapSet(memory, buffer, copy);
  return copy;
}

function cloneView(view: ArrayBufferView, memory: Memory): ArrayBufferView {
  const tag = typedArrayTag(view);
  const isTyped = tag !== undefined;
  const buffer = isTyped ? typedArrayBuffer(view) : dataViewBuffer(view as DataView);
  const offset = isTyped ? typedArrayByteOffset(view) : dataViewByteOffset(view as DataView);
  const bytes = isTyped ? typedArrayByteLength(view) : dataViewByteLength(view as DataView);
  const clonedBuffer = clone(buffer, memory) as ArrayBufferLike;
  const Ctor = isTyped ? (tag === 'Float16Array' ? Float16ArrayCtor : TYPED_ARRAYS[tag]) : DataView;
  if (Ctor === undefined) throw cannotClone(`#<${tag ?? 'Object'}>`);
  const perElement = (Ctor as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const copy = construct(Ctor, [clonedBuffer, offset, bytes / perElement]) as ArrayBufferView;
  mapSet(memory, view, copy);
  return copy;
}

/** Own enumerable string-keyed properties of `from`, read with [[Get]] and cloned onto `to` (HTML's [[Properties]]). */
function cloneProperties(from: object, to: object, memory: Memory, skipLength: boolean): void {
  const keys = ownKeys(from);
  const enumerable: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== 'string' || (skipLength && key === 'length')) continue;
    const desc = getOwnPropertyDescriptor(from, key);
    if (desc !== undefined && desc.enumerable === true) enumerable[enumerable.length] = key;
  }
  for (let i = 0; i < enumerable.length; i++) {
    const key = enumerable[i] as string;
    // A getter run earlier may have deleted this one.
    if (getOwnPropertyDescriptor(from, key) === undefined) continue;
    const value = clone((from as Record<string, unknown>)[key], memory);
    defineProperty(to, key, { value, writable: true, enumerable: true, configurable: true });
  }
}

function cloneError(value: object, memory: Memory): Error {
  const name = (value as { name?: unknown }).name;
  const Ctor = (typeof name === 'string' && ERROR_TYPES[name]) || Error;
  const copy = construct(Ctor, []) as Error;
  mapSet(memory, value, copy);
  for (let i = 0; i < ERROR_FIELDS.length; i++) {
    const field = ERROR_FIELDS[i] as string;
    const desc = getOwnPropertyDescriptor(value, field);
    if (desc === undefined || !('value' in desc)) continue;
    const v = field === 'cause' ? clone(desc.value, memory) : String(desc.value);
    defineProperty(copy, field, { value: v, writable: true, enumerable: false, configurable: true });
  }
  return copy;
}

function clone(value: unknown, memory: Memory): unknown {
  if (typeof value === 'function') throw cannotClone(`${(value as { name?: unknown }).name || 'function'}`);
  if (typeof value === 'symbol') throw cannotClone(String(value));
  if (typeof value !== 'object' || value === null) return value;
  const seen = memory.get(value);
  if (seen !== undefined || memory.has(value)) return seen;

  // Blob and File are serializable platform objects; their bytes are
  // immutable, so a copy shares them.
  const blob = cloneBlob(value);
  if (blob !== null) {
    mapSet(memory, value, blob);
    return blob;
  }
  let copy: object;
  if (is(booleanValue, value)) copy = Object(booleanValue(value));
  else if (is(numberValue, value)) copy = Object(numberValue(value));
  else if (is(stringValue, value)) copy = Object(stringValue(value));
  else if (is(bigintValue, value)) copy = Object(bigintValue(value));
  else if (is(dateValue, value)) copy = new Date(dateValue(value));
  else if (is(regExpGlobal, value)) copy = new RegExp(regExpSource(value), regExpFlags(value));
  else if (is(arrayBufferByteLength, value)) return cloneBuffer(value as ArrayBuffer, memory);
  // Within one isolate there is one agent, so a SharedArrayBuffer clones to
  // itself: the copy shares its memory, as across a postMessage in a browser.
  else if (is(sharedArrayBufferByteLength, value)) copy = value;
  else if (typedArrayTag(value) !== undefined || is(dataViewByteLength as Brand<number>, value)) return cloneView(value as ArrayBufferView, memory);
  else if (is(mapSize, value)) {
    const m = new Map();
    mapSet(memory, value, m);
    // HTML copies the entries before cloning any: a getter run while cloning
    // must not change which entries are cloned.
    const entries = mapEntries(value as Map<unknown, unknown>);
    for (let i = 0; i < entries.length; i += 2) mapSet(m, clone(entries[i], memory), clone(entries[i + 1], memory));
    return m;
  } else if (is(setSize, value)) {
    const s = new Set();
    mapSet(memory, value, s);
    const values = setValues(value as Set<unknown>);
    for (let i = 0; i < values.length; i++) setAdd(s, clone(values[i], memory));
    return s;
  } else if (isError(value)) return cloneError(value as Error, memory);
  else if (isArray(value)) {
    const array = new Array((value as unknown[]).length);
    mapSet(memory, value, array);
    cloneProperties(value, array, memory, true);
    return array;
  } else {
    // HTML throws for platform objects and for objects with internal slots
    // beyond an ordinary object's (Promise, WeakMap, WeakRef…). Their tags
    // say what they are; an instance of a user class reports "Object" and is
    // cloned as a plain object, as the spec says.
    const tag = stringSliceTag(objectToString(value));
    if (tag !== 'Object' && tag !== 'Arguments') throw cannotClone(`#<${tag}>`);
    const object = objectCreate(ObjectPrototype) as object;
    mapSet(memory, value, object);
    cloneProperties(value, object, memory, false);
    return object;
  }
  mapSet(memory, value, copy);
  return copy;
}

function stringSliceTag(s: string): string {
  // "[object X]" → "X"
  let out = '';
  for (let i = 8; i < s.length - 1; i++) out += s[i];
  return out;
}

export function structuredClone<T>(value: T, options?: StructuredSerializeOptions): T {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.");
  const transfer = checkTransferList(options?.transfer);
  const copy = clone(value, new SafeMap()) as T;
  // Transferring an ArrayBuffer (the only transferable an isolate has: no
  // MessagePort) moves it: the clone holds its bytes and the original is
  // detached (HTML §2.7.4 StructuredSerializeWithTransfer). The clone above
  // already copied the bytes, so detaching is what is left to do:
  // transfer(0) detaches and hands back an empty buffer, copying nothing.
  for (let i = 0; i < transfer.length; i++) arrayBufferTransfer(transfer[i] as ArrayBuffer, 0);
  return copy;
}

function checkTransferList(list: Iterable<unknown> | undefined): ArrayBuffer[] {
  if (list === undefined) return [];
  const out: ArrayBuffer[] = [];
  // A sequence<object> in WebIDL: iterated with the list's own iterator.
  for (const item of list) {
    const at = out.length;
    if (!is(arrayBufferByteLength, item)) throw new DOMException(`Failed to execute 'structuredClone': Value at index ${at} does not have a transferable type.`, 'DataCloneError');
    for (let i = 0; i < out.length; i++) {
      if (out[i] === item) throw new DOMException(`Failed to execute 'structuredClone': ArrayBuffer at index ${at} is a duplicate of an earlier ArrayBuffer.`, 'DataCloneError');
    }
    if (arrayBufferDetached(item)) throw new DOMException(`Failed to execute 'structuredClone': ArrayBuffer at index ${at} is already detached.`, 'DataCloneError');
    out[out.length] = item as ArrayBuffer;
  }
  return out;
}

defineGlobal('structuredClone', structuredClone);
