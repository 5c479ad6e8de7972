// crypto.getRandomValues and crypto.randomUUID, from the host's CSPRNG.
// crypto.subtle is added to Crypto.prototype by subtle.ts.

import { defineGlobal } from './define.ts';
import { DOMException } from './dom-exception.ts';
import { host } from './bridge.ts';

// WebCrypto §10.1.1: only integer typed arrays.
function isIntegerArray(v: unknown): v is Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array {
  return (
    v instanceof Int8Array ||
    v instanceof Uint8Array ||
    v instanceof Uint8ClampedArray ||
    v instanceof Int16Array ||
    v instanceof Uint16Array ||
    v instanceof Int32Array ||
    v instanceof Uint32Array ||
    v instanceof BigInt64Array ||
    v instanceof BigUint64Array
  );
}

const MAX_BYTES = 65536;

function getRandomValues<T extends ArrayBufferView | null>(array: T): T {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': 1 argument required, but only 0 present.");
  if (!isIntegerArray(array)) {
    if (ArrayBuffer.isView(array)) throw new DOMException("Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is of type that is not an integer array.", 'TypeMismatchError');
    throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.");
  }
  if (array.byteLength > MAX_BYTES) {
    throw new DOMException(`Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (${MAX_BYTES}).`, 'QuotaExceededError');
  }
  if (array.byteLength === 0) return array;
  const bytes = host().random(array.byteLength);
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
  return array;
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i + 0x100).toString(16).slice(1));

function randomUUID(): `${string}-${string}-${string}-${string}-${string}` {
  const b = host().random(16);
  // RFC 9562 §5.4: version 4, variant 10.
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = (i: number): string => HEX[b[i] as number] as string;
  return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}

class Crypto {
  constructor(token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor');
  }
  getRandomValues<T extends ArrayBufferView | null>(array: T): T {
    return getRandomValues(array);
  }
  randomUUID(): `${string}-${string}-${string}-${string}-${string}` {
    return randomUUID();
  }
}
const CONSTRUCT = Symbol('Crypto');
Object.defineProperty(Crypto.prototype, Symbol.toStringTag, { value: 'Crypto', configurable: true });

export { Crypto };

defineGlobal('Crypto', Crypto);
defineGlobal('crypto', new Crypto(CONSTRUCT));
