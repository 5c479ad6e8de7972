// node:crypto, its common part: hashes and HMACs computed by the host's
// OpenSSL (the 'node-crypto' sync op, runtime/node-compat/crypto-op.ts; data
// is gathered here and fed to the host at digest(), in steps of at most
// STEP bytes so the CPU budget can stop a huge one), random bytes and
// UUIDs from the platform's crypto.getRandomValues, and a constant-time compare.
// Ciphers, key objects, sign/verify, scrypt/pbkdf2 are not here: use crypto.subtle.

import { Buffer } from 'buffer';
import { callSync } from './host.ts';

type Data = string | ArrayBufferView | ArrayBuffer;

/** The host op's largest step (crypto-op.ts MAX_STEP_BYTES). */
const STEP = 1024 * 1024;

function bytesOf(data: Data, encoding: string | undefined, what: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, (encoding ?? 'utf8') as BufferEncoding);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`The "${what}" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer`);
}

type BufferEncoding = 'utf8' | 'hex' | 'base64' | 'base64url' | 'latin1' | 'binary' | 'ascii' | 'utf16le' | 'ucs2';

class Digest {
  readonly #algorithm: string;
  readonly #key: Uint8Array | undefined;
  #parts: Uint8Array[] = [];
  #done = false;

  constructor(algorithm: string, key: Uint8Array | undefined) {
    if (typeof algorithm !== 'string') throw new TypeError('The "algorithm" argument must be of type string');
    this.#algorithm = algorithm;
    this.#key = key;
    // Unknown algorithms fail here, as in Node, not at digest().
    callSync('node-crypto', { op: 'check', algorithm });
  }

  update(data: Data, encoding?: string): this {
    if (this.#done) throw new Error('Digest already called');
    // Copied: the caller may reuse its buffer before digest().
    this.#parts.push(bytesOf(data, encoding, 'data').slice());
    return this;
  }

  digest(): Buffer;
  digest(encoding: string): string;
  digest(encoding?: string): Buffer | string {
    if (this.#done) throw new Error('Digest already called');
    this.#done = true;
    const id = callSync('node-crypto', { op: 'begin', algorithm: this.#algorithm, key: this.#key }) as number;
    let digest: Uint8Array;
    try {
      for (const part of this.#parts) {
        for (let at = 0; at < part.byteLength; at += STEP) callSync('node-crypto', { op: 'update', id, data: part.subarray(at, Math.min(part.byteLength, at + STEP)) });
      }
      digest = callSync('node-crypto', { op: 'final', id }) as Uint8Array;
    } catch (err) {
      callSync('node-crypto', { op: 'abort', id });
      throw err;
    }
    this.#parts = [];
    const out = Buffer.from(digest);
    return encoding === undefined || encoding === 'buffer' ? out : out.toString(encoding as BufferEncoding);
  }
}

export class Hash extends Digest {}
export class Hmac extends Digest {}

export function createHash(algorithm: string): Hash {
  return new Hash(algorithm, undefined);
}

export function createHmac(algorithm: string, key: Data): Hmac {
  return new Hmac(algorithm, bytesOf(key, undefined, 'key').slice());
}

export function randomBytes(size: number): Buffer;
export function randomBytes(size: number, callback: (err: Error | null, buf: Buffer) => void): void;
export function randomBytes(size: number, callback?: (err: Error | null, buf: Buffer) => void): Buffer | void {
  if (!Number.isInteger(size) || size < 0 || size > 2 ** 31 - 1) throw new RangeError(`The value of "size" is out of range. It must be >= 0 && <= 2147483647. Received ${String(size)}`);
  const out = Buffer.alloc(size);
  // getRandomValues fills at most 65,536 bytes a call (WebCrypto's quota).
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65536)));
  if (callback === undefined) return out;
  queueMicrotask(() => callback(null, out));
}

export function randomUUID(): string {
  return crypto.randomUUID();
}

export function randomInt(min: number, max?: number): number {
  const [lo, hi] = max === undefined ? [0, min] : [min, max];
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi <= lo) throw new RangeError('The "max" argument must be greater than "min", both safe integers');
  const range = hi - lo;
  // Rejection sampling over 48 bits keeps the result uniform.
  const limit = 2 ** 48 - (2 ** 48 % range);
  for (;;) {
    const b = randomBytes(6);
    const n = b.readUIntBE(0, 6);
    if (n < limit) return lo + (n % range);
  }
}

export function timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = bytesOf(a, undefined, 'buf1');
  const y = bytesOf(b, undefined, 'buf2');
  if (x.byteLength !== y.byteLength) throw new RangeError('Input buffers must have the same byte length');
  let diff = 0;
  for (let i = 0; i < x.byteLength; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export function getHashes(): string[] {
  return callSync('node-crypto', { op: 'list' }) as string[];
}

export const getRandomValues = <T extends ArrayBufferView | null>(array: T): T => crypto.getRandomValues(array as never) as T;
export const webcrypto = crypto;
export const subtle = crypto.subtle;

export default { createHash, createHmac, randomBytes, randomUUID, randomInt, timingSafeEqual, getHashes, getRandomValues, webcrypto, subtle, Hash, Hmac };
