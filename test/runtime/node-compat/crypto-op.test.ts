// The 'node-crypto' host op on its own: digests in steps, and the per-request
// bound on hashing time (a sync host call is outside isolated-vm's timeout).
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type FunctionSource } from '../../../runtime/index.ts';
import { MAX_STEP_BYTES, nodeCryptoOp } from '../../../runtime/node-compat/crypto-op.ts';
import type { OpContext } from '../../../runtime/host-ops/types.ts';

function context(cpuMs: number): OpContext {
  const fn: FunctionSource = { name: 'f', version: 1, format: 'module', code: '', env: {}, limits: { ...DEFAULT_LIMITS, cpuMs } };
  return { fn, isolate: new Map(), request: new Map(), signal: undefined, onDispose() {} };
}

describe('the node-crypto host op', () => {
  it('hashes and HMACs in steps, equal to Node', () => {
    const ctx = context(1000);
    const data = new Uint8Array(MAX_STEP_BYTES + 10).fill(3);
    const id = nodeCryptoOp({ op: 'begin', algorithm: 'SHA256' }, ctx) as number;
    nodeCryptoOp({ op: 'update', id, data: data.subarray(0, MAX_STEP_BYTES) }, ctx);
    nodeCryptoOp({ op: 'update', id, data: data.subarray(MAX_STEP_BYTES) }, ctx);
    expect(Buffer.from(nodeCryptoOp({ op: 'final', id }, ctx) as Uint8Array).toString('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    const key = new Uint8Array([1, 2, 3]);
    const hid = nodeCryptoOp({ op: 'begin', algorithm: 'sha1', key }, ctx) as number;
    nodeCryptoOp({ op: 'update', id: hid, data: new TextEncoder().encode('x') }, ctx);
    expect(Buffer.from(nodeCryptoOp({ op: 'final', id: hid }, ctx) as Uint8Array).toString('hex')).toBe(createHmac('sha1', key).update('x').digest('hex'));
  });

  it('refuses unknown digests, oversized steps, unknown ids and too many open digests', () => {
    const ctx = context(1000);
    expect(() => nodeCryptoOp({ op: 'begin', algorithm: 'whirlpool-9000' }, ctx)).toThrow('Digest method not supported');
    const id = nodeCryptoOp({ op: 'begin', algorithm: 'md5' }, ctx) as number;
    expect(() => nodeCryptoOp({ op: 'update', id, data: new Uint8Array(MAX_STEP_BYTES + 1) }, ctx)).toThrow(/at most 1048576 bytes/);
    expect(() => nodeCryptoOp({ op: 'final', id: 999 }, ctx)).toThrow(/no such digest/);
    for (let i = 0; i < 15; i++) nodeCryptoOp({ op: 'begin', algorithm: 'md5' }, ctx);
    expect(() => nodeCryptoOp({ op: 'begin', algorithm: 'md5' }, ctx)).toThrow(/more than 16 digests open/);
  });

  it("stops a request's hashing one step past its CPU budget", () => {
    // What is measured: host time spent in steps until the op refuses. Each
    // step is 1 MiB (a few ms of SHA-512), so the refusal comes at the budget
    // plus one step; the bound leaves room for a loaded machine.
    const ctx = context(20);
    const id = nodeCryptoOp({ op: 'begin', algorithm: 'sha512' }, ctx) as number;
    const step = new Uint8Array(MAX_STEP_BYTES).fill(1);
    const t = performance.now();
    let steps = 0;
    let refusal: unknown;
    try {
      for (; steps < 10_000; steps++) nodeCryptoOp({ op: 'update', id, data: step }, ctx);
    } catch (err) {
      refusal = err;
    }
    expect((refusal as { code?: string }).code).toBe('ERR_CPU_LIMIT');
    expect((refusal as Error).message).toBe('node:crypto: hashing has used the CPU time limit of 20 ms');
    expect(steps).toBeLessThan(10_000);
    expect(performance.now() - t).toBeLessThan(20 + 500);
    // Another request starts with its own count.
    const next = { ...ctx, request: new Map<string, unknown>() };
    expect(() => nodeCryptoOp({ op: 'update', id, data: step }, next)).not.toThrow();
  });
});
