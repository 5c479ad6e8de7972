// CryptoKey (WebCrypto §13): a handle to key material that stays on the host
// (runtime/host-ops/crypto.ts). The object holds the host's id in a private
// field, so tenant code can neither read the id nor forge a key from a plain
// object or from CryptoKey.prototype; only keys the host made are accepted.

import { defineGlobal } from './define.ts';

/** What the host returns for a key it made (runtime/host-ops/crypto.ts KeyDescriptor). */
export interface KeyDescriptor {
  id: number;
  type: KeyType;
  extractable: boolean;
  algorithm: Record<string, unknown>;
  usages: KeyUsage[];
}

const CONSTRUCT = Symbol('CryptoKey');

let idOf: (key: unknown) => number | undefined;

// Ids of collected keys, handed to the host with the next subtle call so it
// can free the material. Made on first use: a FinalizationRegistry has no
// business in the snapshot.
let registry: FinalizationRegistry<number> | undefined;
const released: number[] = [];

class CryptoKey {
  readonly #id: number;
  readonly #type: KeyType;
  readonly #extractable: boolean;
  readonly #algorithm: KeyAlgorithm;
  readonly #usages: readonly KeyUsage[];

  constructor(token?: symbol, d?: KeyDescriptor) {
    if (token !== CONSTRUCT || d === undefined) throw new TypeError('Illegal constructor');
    this.#id = d.id;
    this.#type = d.type;
    this.#extractable = d.extractable;
    const alg = d.algorithm;
    if (typeof alg.hash === 'object' && alg.hash !== null) Object.freeze(alg.hash);
    // Frozen so the attributes report what the host holds, whatever a tenant
    // writes to them (a typed-array member such as publicExponent cannot be frozen).
    this.#algorithm = Object.freeze(alg) as unknown as KeyAlgorithm;
    this.#usages = Object.freeze([...d.usages]);
  }

  get type(): KeyType {
    return this.#type;
  }
  get extractable(): boolean {
    return this.#extractable;
  }
  get algorithm(): KeyAlgorithm {
    return this.#algorithm;
  }
  get usages(): KeyUsage[] {
    return this.#usages as KeyUsage[];
  }

  static {
    idOf = (key) => (typeof key === 'object' && key !== null && #id in key ? key.#id : undefined);
  }
}

// WebIDL attributes are enumerable accessors on the prototype.
for (const name of ['type', 'extractable', 'algorithm', 'usages']) {
  const d = Object.getOwnPropertyDescriptor(CryptoKey.prototype, name);
  if (d !== undefined) Object.defineProperty(CryptoKey.prototype, name, { ...d, enumerable: true });
}
Object.defineProperty(CryptoKey.prototype, Symbol.toStringTag, { value: 'CryptoKey', configurable: true });

export function makeKey(d: KeyDescriptor): CryptoKey {
  const key = new CryptoKey(CONSTRUCT, d);
  registry ??= new FinalizationRegistry((id: number) => released.push(id));
  registry.register(key, d.id);
  return key;
}

/** The host id of `key`, or undefined when it is not a CryptoKey. */
export function keyId(key: unknown): number | undefined {
  return idOf(key);
}

/** Ids of keys collected since the last call; the caller sends them to the host. */
export function takeReleased(): number[] | undefined {
  return released.length === 0 ? undefined : released.splice(0);
}

export type { CryptoKey };

defineGlobal('CryptoKey', CryptoKey);
