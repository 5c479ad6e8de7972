// structuredClone via @ungap/structured-clone, with the spec's DataCloneError
// where the library would throw a TypeError or silently turn a platform object
// (Promise, WeakMap, Headers…) into {}.

import { defineGlobal } from './define.ts';
import { DOMException } from './dom-exception.ts';

interface Ungap {
  serialize(value: unknown): unknown;
  deserialize(records: unknown): unknown;
}

let lib: Ungap | undefined;

const { toString } = Object.prototype;
// Object.prototype.toString tags of what HTML's StructuredSerialize accepts
// (and @ungap/structured-clone implements). Class instances without a tag
// report "Object" and clone as plain objects, as the spec says.
const SERIALIZABLE = new Set([
  'Object', 'Array', 'Arguments', 'Date', 'RegExp', 'Map', 'Set', 'Error', 'Boolean', 'Number', 'String', 'BigInt',
  'ArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
]);

function uncloneable(value: unknown, seen: Set<object>): string | null {
  if (typeof value === 'function') return `${value.name || 'function'} could not be cloned.`;
  if (typeof value === 'symbol') return `${String(value)} could not be cloned.`;
  if (typeof value !== 'object' || value === null || seen.has(value)) return null;
  seen.add(value);
  const tag = toString.call(value).slice(8, -1);
  if (!SERIALIZABLE.has(tag) && !(value instanceof Error)) return `#<${tag}> could not be cloned.`;
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const why = uncloneable(k, seen) ?? uncloneable(v, seen);
      if (why !== null) return why;
    }
  } else if (value instanceof Set) {
    for (const v of value) {
      const why = uncloneable(v, seen);
      if (why !== null) return why;
    }
  } else if (!ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) {
    for (const key of Object.keys(value)) {
      const why = uncloneable((value as Record<string, unknown>)[key], seen);
      if (why !== null) return why;
    }
  }
  return null;
}

export function structuredClone<T>(value: T, options?: StructuredSerializeOptions): T {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.");
  const transfer = checkTransferList(options?.transfer);
  const why = uncloneable(value, new Set());
  if (why !== null) throw new DOMException(`Failed to execute 'structuredClone': ${why}`, 'DataCloneError');
  // serialize/deserialize directly: the package's default export delegates to a
  // global structuredClone when one exists, which here is this function.
  lib ??= require('@ungap/structured-clone') as Ungap;
  let copy: T;
  try {
    copy = lib.deserialize(lib.serialize(value)) as T;
  } catch (err) {
    throw new DOMException(`Failed to execute 'structuredClone': ${err instanceof Error ? err.message : String(err)}`, 'DataCloneError');
  }
  // Transferring an ArrayBuffer (the only transferable an isolate has: no
  // MessagePort) moves it: the clone holds its bytes and the original is
  // detached (HTML §2.7.4 StructuredSerializeWithTransfer). The clone above
  // already copied the bytes, so detaching is what is left to do:
  // transfer(0) detaches and hands back an empty buffer, copying nothing.
  for (const buffer of transfer) buffer.transfer(0);
  return copy;
}

function checkTransferList(list: Iterable<unknown> | undefined): ArrayBuffer[] {
  if (list === undefined) return [];
  const out: ArrayBuffer[] = [];
  for (const item of list) {
    const at = out.length;
    if (!(item instanceof ArrayBuffer)) throw new DOMException(`Failed to execute 'structuredClone': Value at index ${at} does not have a transferable type.`, 'DataCloneError');
    if (out.includes(item)) throw new DOMException(`Failed to execute 'structuredClone': ArrayBuffer at index ${at} is a duplicate of an earlier ArrayBuffer.`, 'DataCloneError');
    if (item.detached) throw new DOMException(`Failed to execute 'structuredClone': ArrayBuffer at index ${at} is already detached.`, 'DataCloneError');
    out.push(item);
  }
  return out;
}

defineGlobal('structuredClone', structuredClone);
