// The 'node-crypto' sync host op: node:crypto's createHash and createHmac
// (runtime/node-compat/isolate/crypto.ts) computed by the host's OpenSSL.
// Synchronous because Node's API is: the digest is taken inside the entry
// that asks for it, so its time counts against the request's CPU budget like
// the worker's own code.

import { createHash, createHmac, getHashes } from 'node:crypto';
import { EdgefnError } from '../errors.ts';
import type { HostOpSync } from '../host-ops/types.ts';

/** The digests offered: Node's common ones (no legacy or XOF hashes, whose output length needs options). */
const ALGORITHMS = new Set(['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha512-256', 'sha3-256', 'sha3-384', 'sha3-512', 'ripemd160']);
const available = (): string[] => getHashes().filter((h) => ALGORITHMS.has(h));

interface Payload {
  algorithm?: unknown;
  key?: unknown;
  parts?: unknown;
  check?: unknown;
  list?: unknown;
}

export const nodeCryptoOp: HostOpSync = (payload) => {
  const p = (payload ?? {}) as Payload;
  if (p.list === true) return available();
  const algorithm = typeof p.algorithm === 'string' ? p.algorithm.toLowerCase() : '';
  // Node's own message for an unknown digest.
  if (!ALGORITHMS.has(algorithm)) throw new EdgefnError('ERR_INVALID_INPUT', 'Digest method not supported');
  if (p.check === true) return undefined;
  if (!Array.isArray(p.parts) || !p.parts.every((x) => x instanceof Uint8Array)) throw new EdgefnError('ERR_INVALID_INPUT', 'node-crypto: parts must be byte arrays');
  const h = p.key instanceof Uint8Array ? createHmac(algorithm, p.key) : createHash(algorithm);
  for (const part of p.parts as Uint8Array[]) h.update(part);
  return new Uint8Array(h.digest());
};
