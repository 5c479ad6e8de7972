// crypto.subtle (WebCrypto §14), done by the host's WebCrypto through the
// `subtle` host op (runtime/host-ops/crypto.ts). This side only does what
// must happen in the isolate: WebIDL argument conversion (whose failures are
// TypeErrors, reported as rejected promises) and copying every BufferSource
// at call time, since the host works on a copy while the tenant may go on
// mutating its buffer. Algorithm checks, key usage checks and the errors for
// them (NotSupportedError, InvalidAccessError, DataError, OperationError,
// SyntaxError) are the host WebCrypto's, so they follow the spec as Node does.

import { defineGlobal } from './define.ts';
import { DOMException } from './dom-exception.ts';
import { hostCall } from './bridge.ts';
import { Crypto } from './crypto.ts';
import { keyId, makeKey, takeReleased, type CryptoKey, type KeyDescriptor } from './subtle-key.ts';

type Dict = Record<string, unknown>;

function fail(method: string, why: string): TypeError {
  return new TypeError(`Failed to execute '${method}' on 'SubtleCrypto': ${why}`);
}

function required(method: string, given: number, needed: number): void {
  if (given < needed) throw fail(method, `${needed} arguments required, but only ${given} present.`);
}

/** A copy of a BufferSource's bytes, taken now (WebCrypto: "get a copy of the bytes held by"). */
function bytesOf(v: unknown, method: string, what: string): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  throw fail(method, `${what} is not of type '(ArrayBuffer or ArrayBufferView)'.`);
}

function keyArg(v: unknown, method: string, what: string): number {
  const id = keyId(v);
  if (id === undefined) throw fail(method, `${what} is not of type 'CryptoKey'.`);
  return id;
}

function sequence(v: unknown, method: string, what: string): unknown[] {
  if (typeof v !== 'object' || v === null || typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function') {
    throw fail(method, `${what} cannot be converted to a sequence.`);
  }
  return [...(v as Iterable<unknown>)];
}

// Members of every algorithm dictionary WebCrypto defines, by how they convert.
const STRING_MEMBERS = ['name', 'namedCurve'] as const;
const NUMBER_MEMBERS = ['length', 'tagLength', 'iterations', 'saltLength', 'modulusLength'] as const;
const BYTES_MEMBERS = ['iv', 'additionalData', 'counter', 'salt', 'info', 'label', 'publicExponent'] as const;

/**
 * A plain copy of an AlgorithmIdentifier: a string as is, a dictionary as the
 * members WebCrypto knows, read once, BufferSources copied, the `public` key
 * as its id. Unknown members are dropped, as WebIDL dictionaries do.
 */
function algorithmOf(alg: unknown, method: string): string | Dict {
  if ((typeof alg !== 'object' && typeof alg !== 'function') || alg === null) return String(alg);
  const src = alg as Dict;
  const out: Dict = {};
  for (const m of STRING_MEMBERS) {
    const v = src[m];
    if (v !== undefined) out[m] = String(v);
  }
  for (const m of NUMBER_MEMBERS) {
    const v = src[m];
    if (v !== undefined && v !== null) out[m] = Number(v);
  }
  for (const m of BYTES_MEMBERS) {
    const v = src[m];
    if (v !== undefined) out[m] = bytesOf(v, method, `member '${m}' of the algorithm`);
  }
  if (src.hash !== undefined) out.hash = algorithmOf(src.hash, method);
  if (src.public !== undefined) out.public = keyArg(src.public, method, "member 'public' of the algorithm");
  return out;
}

const JWK_STRINGS = ['kty', 'use', 'alg', 'crv', 'x', 'y', 'd', 'n', 'e', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

function jwkOf(v: unknown, method: string): JsonWebKey {
  if (typeof v !== 'object' || v === null) throw fail(method, "parameter 2 is not of type 'JsonWebKey'.");
  const src = v as Dict;
  const out: Dict = {};
  for (const m of JWK_STRINGS) {
    const x = src[m];
    if (x !== undefined) out[m] = String(x);
  }
  if (src.key_ops !== undefined) out.key_ops = sequence(src.key_ops, method, "member 'key_ops'").map(String);
  if (src.ext !== undefined) out.ext = Boolean(src.ext);
  if (src.oth !== undefined) {
    out.oth = sequence(src.oth, method, "member 'oth'").map((o) => {
      const p = (typeof o === 'object' && o !== null ? o : {}) as Dict;
      const r: Dict = {};
      for (const m of ['r', 'd', 't']) if (p[m] !== undefined) r[m] = String(p[m]);
      return r;
    });
  }
  return out as JsonWebKey;
}

function usagesOf(v: unknown, method: string): string[] {
  return sequence(v, method, "parameter 'keyUsages'").map(String);
}

/** The host's copy is a fresh Uint8Array; hand its buffer over without another copy when it is exact. */
function arrayBufferOf(u: Uint8Array): ArrayBuffer {
  return u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && u.buffer instanceof ArrayBuffer ? u.buffer : (u.slice().buffer as ArrayBuffer);
}

async function call(payload: Dict): Promise<unknown> {
  const release = takeReleased();
  if (release !== undefined) payload.release = release;
  try {
    return (await hostCall('subtle', payload)).value;
  } catch (err) {
    // The bridge revives the name 'SyntaxError' as JavaScript's SyntaxError;
    // in WebCrypto it is always the DOMException (e.g. empty usages).
    if (err instanceof SyntaxError) throw new DOMException(err.message, 'SyntaxError');
    throw err;
  }
}

function keyOrPair(r: unknown): CryptoKey | CryptoKeyPair {
  const d = r as KeyDescriptor | { publicKey: KeyDescriptor; privateKey: KeyDescriptor };
  if ('publicKey' in d) return { publicKey: makeKey(d.publicKey), privateKey: makeKey(d.privateKey) } as unknown as CryptoKeyPair;
  return makeKey(d);
}

const CONSTRUCT = Symbol('SubtleCrypto');

// Every method is async so that argument conversion errors become rejected
// promises, as WebIDL specifies for promise-returning operations.
class SubtleCrypto {
  constructor(token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor');
  }

  async digest(algorithm: unknown, data: unknown): Promise<ArrayBuffer> {
    required('digest', arguments.length, 2);
    const alg = algorithmOf(algorithm, 'digest');
    return arrayBufferOf((await call({ method: 'digest', alg, data: bytesOf(data, 'digest', 'parameter 2') })) as Uint8Array);
  }

  async encrypt(algorithm: unknown, key: unknown, data: unknown): Promise<ArrayBuffer> {
    return this.#cipher('encrypt', arguments.length, algorithm, key, data);
  }

  async decrypt(algorithm: unknown, key: unknown, data: unknown): Promise<ArrayBuffer> {
    return this.#cipher('decrypt', arguments.length, algorithm, key, data);
  }

  async sign(algorithm: unknown, key: unknown, data: unknown): Promise<ArrayBuffer> {
    return this.#cipher('sign', arguments.length, algorithm, key, data);
  }

  async #cipher(method: string, given: number, algorithm: unknown, key: unknown, data: unknown): Promise<ArrayBuffer> {
    required(method, given, 3);
    const alg = algorithmOf(algorithm, method);
    const id = keyArg(key, method, 'parameter 2');
    return arrayBufferOf((await call({ method, alg, key: id, data: bytesOf(data, method, 'parameter 3') })) as Uint8Array);
  }

  async verify(algorithm: unknown, key: unknown, signature: unknown, data: unknown): Promise<boolean> {
    required('verify', arguments.length, 4);
    const alg = algorithmOf(algorithm, 'verify');
    const id = keyArg(key, 'verify', 'parameter 2');
    const sig = bytesOf(signature, 'verify', 'parameter 3');
    return (await call({ method: 'verify', alg, key: id, signature: sig, data: bytesOf(data, 'verify', 'parameter 4') })) as boolean;
  }

  async generateKey(algorithm: unknown, extractable: unknown, keyUsages: unknown): Promise<CryptoKey | CryptoKeyPair> {
    required('generateKey', arguments.length, 3);
    const alg = algorithmOf(algorithm, 'generateKey');
    return keyOrPair(await call({ method: 'generateKey', alg, extractable: Boolean(extractable), usages: usagesOf(keyUsages, 'generateKey') }));
  }

  async deriveKey(algorithm: unknown, baseKey: unknown, derivedKeyType: unknown, extractable: unknown, keyUsages: unknown): Promise<CryptoKey> {
    required('deriveKey', arguments.length, 5);
    const alg = algorithmOf(algorithm, 'deriveKey');
    const id = keyArg(baseKey, 'deriveKey', 'parameter 2');
    const alg2 = algorithmOf(derivedKeyType, 'deriveKey');
    return makeKey((await call({ method: 'deriveKey', alg, key: id, alg2, extractable: Boolean(extractable), usages: usagesOf(keyUsages, 'deriveKey') })) as KeyDescriptor);
  }

  async deriveBits(algorithm: unknown, baseKey: unknown, length: unknown = null): Promise<ArrayBuffer> {
    required('deriveBits', arguments.length, 2);
    const alg = algorithmOf(algorithm, 'deriveBits');
    const id = keyArg(baseKey, 'deriveBits', 'parameter 2');
    const bits = length === null || length === undefined ? null : Number(length);
    return arrayBufferOf((await call({ method: 'deriveBits', alg, key: id, length: bits })) as Uint8Array);
  }

  async importKey(format: unknown, keyData: unknown, algorithm: unknown, extractable: unknown, keyUsages: unknown): Promise<CryptoKey> {
    required('importKey', arguments.length, 5);
    const f = String(format);
    const data = f === 'jwk' ? jwkOf(keyData, 'importKey') : bytesOf(keyData, 'importKey', 'parameter 2');
    const alg = algorithmOf(algorithm, 'importKey');
    return makeKey((await call({ method: 'importKey', format: f, keyData: data, alg, extractable: Boolean(extractable), usages: usagesOf(keyUsages, 'importKey') })) as KeyDescriptor);
  }

  async exportKey(format: unknown, key: unknown): Promise<ArrayBuffer | JsonWebKey> {
    required('exportKey', arguments.length, 2);
    const f = String(format);
    const r = await call({ method: 'exportKey', format: f, key: keyArg(key, 'exportKey', 'parameter 2') });
    return r instanceof Uint8Array ? arrayBufferOf(r) : (r as JsonWebKey);
  }

  async wrapKey(format: unknown, key: unknown, wrappingKey: unknown, wrapAlgorithm: unknown): Promise<ArrayBuffer> {
    required('wrapKey', arguments.length, 4);
    const f = String(format);
    const id = keyArg(key, 'wrapKey', 'parameter 2');
    const id2 = keyArg(wrappingKey, 'wrapKey', 'parameter 3');
    const alg = algorithmOf(wrapAlgorithm, 'wrapKey');
    return arrayBufferOf((await call({ method: 'wrapKey', format: f, key: id, key2: id2, alg })) as Uint8Array);
  }

  async unwrapKey(
    format: unknown,
    wrappedKey: unknown,
    unwrappingKey: unknown,
    unwrapAlgorithm: unknown,
    unwrappedKeyAlgorithm: unknown,
    extractable: unknown,
    keyUsages: unknown,
  ): Promise<CryptoKey> {
    required('unwrapKey', arguments.length, 7);
    const f = String(format);
    const data = bytesOf(wrappedKey, 'unwrapKey', 'parameter 2');
    const id2 = keyArg(unwrappingKey, 'unwrapKey', 'parameter 3');
    const alg = algorithmOf(unwrapAlgorithm, 'unwrapKey');
    const alg2 = algorithmOf(unwrappedKeyAlgorithm, 'unwrapKey');
    const usages = usagesOf(keyUsages, 'unwrapKey');
    return makeKey((await call({ method: 'unwrapKey', format: f, data, key2: id2, alg, alg2, extractable: Boolean(extractable), usages })) as KeyDescriptor);
  }
}
Object.defineProperty(SubtleCrypto.prototype, Symbol.toStringTag, { value: 'SubtleCrypto', configurable: true });

const subtle = new SubtleCrypto(CONSTRUCT);
Object.defineProperty(Crypto.prototype, 'subtle', {
  get(): SubtleCrypto {
    return subtle;
  },
  enumerable: true,
  configurable: true,
});

defineGlobal('SubtleCrypto', SubtleCrypto);
