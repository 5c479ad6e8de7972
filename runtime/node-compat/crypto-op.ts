// The 'node-crypto' sync host op: node:crypto's createHash and createHmac
// (runtime/node-compat/isolate/crypto.ts) computed by the host's OpenSSL.
// Synchronous because Node's API is: the digest is taken inside the entry
// that asks for it, so its time counts against the request's CPU budget like
// the worker's own code.
//
// A digest is fed in steps of at most MAX_STEP_BYTES ('begin', 'update'…,
// 'final'), and the time the steps take is added up per request: isolated-vm's
// timeout does not run while a host callback does, and the CPU charge is only
// settled when the entry returns, so without this one digest of a 100 MB
// buffer would hold the host's thread for as long as it takes, past any
// budget (and past the host watchdog's grace). Once a request's hashing alone
// has used its CPU budget, the next step throws; the overshoot is one step.
// The open digest lives in the isolate's op state, dropped with it.

import { createHash, createHmac, getHashes, type Hash, type Hmac } from 'node:crypto';
import { EdgefnError } from '../errors.ts';
import type { HostOpSync, OpContext } from '../host-ops/types.ts';

/** The digests offered: Node's common ones (no legacy or XOF hashes, whose output length needs options). */
const ALGORITHMS = new Set(['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha512-256', 'sha3-256', 'sha3-384', 'sha3-512', 'ripemd160']);
/** Bytes one 'update' step may carry (~1–3 ms of SHA-256 here). The isolate side splits to this. */
export const MAX_STEP_BYTES = 1024 * 1024;
/** Digests open at once in one isolate: digest() opens and closes one within a single synchronous loop. */
const MAX_OPEN = 16;
const OPEN = 'node-crypto.open';
/** ms spent hashing, in the request's op state (or the isolate's, at the top level). */
const SPENT = 'node-crypto.ms';

interface Payload {
  op?: unknown;
  algorithm?: unknown;
  key?: unknown;
  id?: unknown;
  data?: unknown;
}

function invalid(message: string): EdgefnError {
  return new EdgefnError('ERR_INVALID_INPUT', message);
}

function open(ctx: OpContext): Map<number, Hash | Hmac> & { next?: number } {
  let m = ctx.isolate.get(OPEN) as (Map<number, Hash | Hmac> & { next?: number }) | undefined;
  if (m === undefined) {
    m = new Map();
    ctx.isolate.set(OPEN, m);
  }
  return m;
}

function algorithmOf(p: Payload): string {
  const algorithm = typeof p.algorithm === 'string' ? p.algorithm.toLowerCase() : '';
  // Node's own message for an unknown digest.
  if (!ALGORITHMS.has(algorithm)) throw invalid('Digest method not supported');
  return algorithm;
}

export const nodeCryptoOp: HostOpSync = (payload, ctx) => {
  const p = (payload ?? {}) as Payload;
  switch (p.op) {
    case 'list':
      return getHashes().filter((h) => ALGORITHMS.has(h));
    case 'check':
      algorithmOf(p);
      return undefined;
    case 'begin': {
      const algorithm = algorithmOf(p);
      if (p.key !== undefined && !(p.key instanceof Uint8Array)) throw invalid('node-crypto: the key must be bytes');
      const m = open(ctx);
      if (m.size >= MAX_OPEN) throw invalid(`node-crypto: more than ${MAX_OPEN} digests open at once`);
      const id = (m.next = (m.next ?? 0) + 1);
      m.set(id, p.key instanceof Uint8Array ? createHmac(algorithm, p.key) : createHash(algorithm));
      return id;
    }
    case 'update': {
      const h = open(ctx).get(Number(p.id));
      if (h === undefined) throw invalid('node-crypto: no such digest');
      if (!(p.data instanceof Uint8Array) || p.data.byteLength > MAX_STEP_BYTES) throw invalid(`node-crypto: a step must be at most ${MAX_STEP_BYTES} bytes`);
      const state = ctx.request ?? ctx.isolate;
      const spent = (state.get(SPENT) as number | undefined) ?? 0;
      if (spent > ctx.fn.limits.cpuMs) throw new EdgefnError('ERR_CPU_LIMIT', `node:crypto: hashing has used the CPU time limit of ${ctx.fn.limits.cpuMs} ms`);
      const t = performance.now();
      h.update(p.data);
      state.set(SPENT, spent + (performance.now() - t));
      return undefined;
    }
    case 'final': {
      const m = open(ctx);
      const h = m.get(Number(p.id));
      if (h === undefined) throw invalid('node-crypto: no such digest');
      m.delete(Number(p.id));
      return new Uint8Array(h.digest());
    }
    case 'abort':
      open(ctx).delete(Number(p.id));
      return undefined;
    default:
      throw invalid(`node-crypto: unknown step ${JSON.stringify(p.op)}`);
  }
};
