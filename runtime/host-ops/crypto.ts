// crypto.subtle for the isolate (runtime/webapi/subtle.ts), done by the host's
// WebCrypto (Node's `crypto.subtle`, OpenSSL underneath): no cipher is written
// here, this file only moves arguments and results across the boundary.
//
// Key material never enters the isolate. A key lives in `ctx.isolate` under a
// numeric id and the isolate's CryptoKey holds only that id; because the map
// is per isolate, an id names nothing in any other isolate, and every key goes
// when the isolate dies. Algorithm dictionaries arrive as plain copies made by
// the isolate; the one member that names a key (`public`, for ECDH/X25519
// deriveBits) arrives as an id and is resolved here.

import { webcrypto } from 'node:crypto';
import type { HostOp, OpContext } from './types.ts';

type NodeKey = webcrypto.CryptoKey;
type Subtle = webcrypto.SubtleCrypto;
type Alg = Parameters<Subtle['encrypt']>[0];
type ImportAlg = Parameters<Subtle['importKey']>[2];
type GenAlg = Parameters<Subtle['generateKey']>[0];
type DeriveAlg = Parameters<Subtle['deriveBits']>[0];
type DerivedKeyAlg = Parameters<Subtle['deriveKey']>[2];
type SignAlg = Parameters<Subtle['sign']>[0];
type Usages = webcrypto.KeyUsage[];
type Jwk = webcrypto.JsonWebKey;

const subtle: Subtle = webcrypto.subtle;

/**
 * Node loads its WebCrypto internals per algorithm family on first use, ~10 ms
 * of main-thread work that would otherwise land inside the first tenant entry
 * that calls crypto.subtle and count against its CPU budget. Done once, in the
 * background, when the host process loads its ops.
 */
async function warm(): Promise<void> {
  const data = new Uint8Array(1);
  await subtle.digest('SHA-256', data);
  const hmac = await subtle.importKey('raw', new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  await subtle.verify('HMAC', hmac, await subtle.sign('HMAC', hmac, data), data);
  const aes = await subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']);
  await subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, aes, data);
  const ec = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  await subtle.exportKey('jwk', ec.publicKey);
  await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, data);
}
setImmediate(() => void warm().catch(() => undefined)).unref();

/**
 * Live keys one isolate may hold. The isolate tells us when a CryptoKey is
 * garbage-collected (see subtle-key.ts), but FinalizationRegistry gives no
 * promise of timeliness, so this bounds host memory a tenant can pin with keys
 * that are still reachable or not yet collected.
 */
export const MAX_KEYS_PER_ISOLATE = 16_384;

/** What the isolate learns about a key: everything but the material. */
export interface KeyDescriptor {
  id: number;
  type: 'secret' | 'public' | 'private';
  extractable: boolean;
  algorithm: Record<string, unknown>;
  usages: string[];
}

interface KeyStore {
  keys: Map<number, NodeKey>;
  next: number;
}

const STORE = 'subtle.keys';

function store(ctx: OpContext): KeyStore {
  let s = ctx.isolate.get(STORE) as KeyStore | undefined;
  if (s === undefined) {
    s = { keys: new Map(), next: 1 };
    ctx.isolate.set(STORE, s);
  }
  return s;
}

/** The host-side error for a failure, as WebCrypto names it. */
function webError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

function keyOf(s: KeyStore, id: unknown): NodeKey {
  const k = typeof id === 'number' ? s.keys.get(id) : undefined;
  // Only our CryptoKey class makes ids, so a miss means a key that was
  // released or never belonged to this isolate.
  if (k === undefined) throw webError('InvalidAccessError', 'The key is not usable in this isolate');
  return k;
}

/** A copy of a key's algorithm made only of copyable values (hash as {name}, publicExponent as bytes). */
function plainAlgorithm(a: webcrypto.KeyAlgorithm): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) {
    if (v instanceof Uint8Array) out[k] = new Uint8Array(v);
    else if (typeof v === 'object' && v !== null && 'name' in v) out[k] = { name: String((v as { name: unknown }).name) };
    else out[k] = v;
  }
  return out;
}

function remember(s: KeyStore, key: NodeKey): KeyDescriptor {
  if (s.keys.size >= MAX_KEYS_PER_ISOLATE) throw webError('QuotaExceededError', `An isolate may hold at most ${MAX_KEYS_PER_ISOLATE} live CryptoKeys`);
  const id = s.next++;
  s.keys.set(id, key);
  return { id, type: key.type, extractable: key.extractable, algorithm: plainAlgorithm(key.algorithm), usages: [...key.usages] };
}

/** Resolves the key-valued member of an algorithm copy. */
function withKeys(s: KeyStore, alg: unknown): unknown {
  if (typeof alg !== 'object' || alg === null || !('public' in alg)) return alg;
  return { ...alg, public: keyOf(s, (alg as { public: unknown }).public) };
}

/** Results cross as a Uint8Array with its own buffer, never a view into a pool. */
function bytes(b: ArrayBuffer): Uint8Array {
  return new Uint8Array(b);
}

interface Payload {
  method: string;
  /** Ids of CryptoKeys the isolate has garbage-collected since its last call. */
  release?: number[];
  alg?: unknown;
  alg2?: unknown;
  key?: number;
  key2?: number;
  data?: Uint8Array;
  signature?: Uint8Array;
  format?: string;
  keyData?: Uint8Array | Jwk;
  extractable?: boolean;
  usages?: string[];
  length?: number | null;
}

type Method = (p: Payload, s: KeyStore) => Promise<unknown>;

// Argument types are WebCrypto's to check: Node's subtle rejects a bad one
// with the TypeError / DOMException the spec names, so values pass untouched
// and the casts only say which overload is meant.
const METHODS: Record<string, Method> = {
  digest: async (p) => bytes(await subtle.digest(p.alg as Alg, p.data as Uint8Array)),
  encrypt: async (p, s) => bytes(await subtle.encrypt(p.alg as Alg, keyOf(s, p.key), p.data as Uint8Array)),
  decrypt: async (p, s) => bytes(await subtle.decrypt(p.alg as Alg, keyOf(s, p.key), p.data as Uint8Array)),
  sign: async (p, s) => bytes(await subtle.sign(p.alg as SignAlg, keyOf(s, p.key), p.data as Uint8Array)),
  verify: async (p, s) => subtle.verify(p.alg as SignAlg, keyOf(s, p.key), p.signature as Uint8Array, p.data as Uint8Array),
  generateKey: async (p, s) => {
    const r = (await subtle.generateKey(p.alg as GenAlg, p.extractable === true, p.usages as Usages)) as NodeKey | webcrypto.CryptoKeyPair;
    if ('publicKey' in r) return { publicKey: remember(s, r.publicKey), privateKey: remember(s, r.privateKey) };
    return remember(s, r);
  },
  importKey: async (p, s) => {
    const key = p.format === 'jwk'
      ? await subtle.importKey('jwk', p.keyData as Jwk, p.alg as ImportAlg, p.extractable === true, p.usages as Usages)
      : await subtle.importKey(p.format as 'raw', p.keyData as Uint8Array, p.alg as ImportAlg, p.extractable === true, p.usages as Usages);
    return remember(s, key);
  },
  exportKey: async (p, s) => {
    const r = await subtle.exportKey(p.format as 'raw', keyOf(s, p.key));
    return r instanceof ArrayBuffer ? bytes(r) : r;
  },
  deriveBits: async (p, s) => bytes(await subtle.deriveBits(withKeys(s, p.alg) as DeriveAlg, keyOf(s, p.key), p.length as number)),
  deriveKey: async (p, s) =>
    remember(s, await subtle.deriveKey(withKeys(s, p.alg) as DeriveAlg, keyOf(s, p.key), p.alg2 as DerivedKeyAlg, p.extractable === true, p.usages as Usages)),
  wrapKey: async (p, s) => bytes(await subtle.wrapKey(p.format as 'raw', keyOf(s, p.key), keyOf(s, p.key2), p.alg as Alg)),
  unwrapKey: async (p, s) =>
    remember(
      s,
      await subtle.unwrapKey(p.format as 'raw', p.data as Uint8Array, keyOf(s, p.key2), p.alg as Alg, p.alg2 as ImportAlg, p.extractable === true, p.usages as Usages),
    ),
};

// The names WebCrypto rejects with; anything else (an OpenSSL or internal
// failure without a WebCrypto name) is reported as OperationError, the
// spec's name for "the operation failed for an operation-specific reason".
const PASSED_NAMES = new Set(['TypeError', 'NotSupportedError', 'InvalidAccessError', 'DataError', 'OperationError', 'SyntaxError', 'QuotaExceededError', 'InvalidStateError']);

export const subtleOp: HostOp = async (payload, ctx) => {
  const p = payload as Payload;
  const s = store(ctx);
  const method = METHODS[p.method];
  if (method === undefined) throw new TypeError(`unknown SubtleCrypto method ${String(p.method)}`);
  // Keys this call names are resolved synchronously inside `method` before
  // its first await, so releasing after the call starts cannot drop them.
  let started: Promise<unknown>;
  try {
    started = method(p, s);
  } finally {
    if (Array.isArray(p.release)) for (const id of p.release) s.keys.delete(id);
  }
  try {
    return await started;
  } catch (err) {
    if (err instanceof Error && PASSED_NAMES.has(err.name)) throw webError(err.name, err.message);
    throw webError('OperationError', err instanceof Error ? err.message : String(err));
  }
};
