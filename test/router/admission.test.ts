// The admission lease between the front door (router/admission.ts) and its
// hosts (router/host/admission.ts), in one process: the IPC channel is a
// queue delivered by pump(), the clock is injected, so every count is exact.
import { describe, expect, it } from 'vitest';
import { NodeAdmission, RECLAIM_MS } from '../../router/admission.ts';
import { HostAdmission, type AdmissionCaps, type Refusal } from '../../router/host/admission.ts';
import type { FromHost, ToHost } from '../../router/host-protocol.ts';

function setup(hostCount: number) {
  let now = 0;
  const clock = () => now;
  const wire: Array<() => void> = [];
  const sent = { toNode: 0 };
  const hosts: HostAdmission[] = [];
  const node = new NodeAdmission<number>({
    now: clock,
    send: (h, m: ToHost) => wire.push(() => hosts[h]!.onMessage(m as Extract<ToHost, { t: 'grant' } | { t: 'reclaim' }>)),
  });
  for (let i = 0; i < hostCount; i++) {
    hosts.push(
      new HostAdmission({
        now: clock,
        send: (m: FromHost) => {
          sent.toNode++;
          wire.push(() => (m.t === 'acquire' ? node.acquire(i, m) : m.t === 'release' ? node.release(i, m) : undefined));
        },
      }),
    );
  }
  /** Deliver messages until none is left. */
  const pump = () => {
    while (wire.length > 0) wire.shift()!();
  };
  type Outcome = { refusal: Refusal | undefined; release: (() => void) | undefined } | undefined;
  /** Admit one request on host `h`; the outcome is filled in when decided. */
  const admit = (h: number, caps: AdmissionCaps) => {
    const box: { outcome: Outcome } = { outcome: undefined };
    hosts[h]!.admit('f', caps, (refusal, release) => (box.outcome = { refusal, release }));
    return box;
  };
  return { node, hosts, pump, admit, sent, advance: (ms: number) => (now += ms) };
}

describe('concurrency', () => {
  it('never admits more than the cap across hosts, and moves idle slots to the host that needs them', () => {
    const { pump, admit } = setup(2);
    const caps = { concurrency: 3, rps: 0 };
    const onA = [admit(0, caps), admit(0, caps), admit(0, caps)];
    pump();
    expect(onA.map((b) => b.outcome?.refusal)).toEqual([undefined, undefined, undefined]);
    // A holds all three and uses them: B's request is refused after A says it has none idle.
    const b1 = admit(1, caps);
    pump();
    expect(b1.outcome?.refusal?.code).toBe('ERR_OVERLOADED');
    expect(b1.outcome?.refusal?.retryAfterSec).toBe(1);
    // One of A's requests ends; its slot stays on A, idle, until B asks for it.
    onA[0]!.outcome!.release!();
    const b2 = admit(1, caps);
    pump();
    expect(b2.outcome?.refusal).toBeUndefined();
    // Now A holds 2 (both busy) and B 1 (busy): a fourth request anywhere is refused.
    const a4 = admit(0, caps);
    const b3 = admit(1, caps);
    pump();
    expect(a4.outcome?.refusal?.code).toBe('ERR_OVERLOADED');
    expect(b3.outcome?.refusal?.code).toBe('ERR_OVERLOADED');
  });

  it('admits a warm host from the slots it holds, without a message', () => {
    const { pump, admit, sent } = setup(2);
    const caps = { concurrency: 2, rps: 0 };
    const first = [admit(0, caps), admit(0, caps)];
    pump();
    for (const b of first) b.outcome!.release!();
    const before = sent.toNode;
    for (let i = 0; i < 100; i++) {
      const x = admit(0, caps);
      const y = admit(0, caps);
      expect(x.outcome?.refusal).toBeUndefined();
      expect(y.outcome?.refusal).toBeUndefined();
      const z = admit(0, caps);
      // The host holds the whole cap, all busy: refused at once too.
      expect(z.outcome?.refusal?.code).toBe('ERR_OVERLOADED');
      x.outcome!.release!();
      y.outcome!.release!();
    }
    expect(sent.toNode).toBe(before);
  });

  it('frees the slots of a host that died', () => {
    const { node, pump, admit } = setup(2);
    const caps = { concurrency: 1, rps: 0 };
    const a = admit(0, caps);
    pump();
    expect(a.outcome?.refusal).toBeUndefined();
    node.forgetHost(0);
    const b = admit(1, caps);
    pump();
    expect(b.outcome?.refusal).toBeUndefined();
  });

  it('answers an acquire after RECLAIM_MS when a holder never answers the reclaim', async () => {
    let reclaimed = 0;
    const grants: Array<Extract<ToHost, { t: 'grant' }>> = [];
    const node = new NodeAdmission<number>({ send: (_h, m) => (m.t === 'reclaim' ? reclaimed++ : m.t === 'grant' ? grants.push(m) : 0) });
    node.acquire(0, { t: 'acquire', id: 1, name: 'f', concurrency: 1, rps: 0, slots: 1, tokens: 0 });
    node.acquire(1, { t: 'acquire', id: 2, name: 'f', concurrency: 1, rps: 0, slots: 1, tokens: 0 });
    expect(reclaimed).toBe(1);
    expect(grants.map((g) => g.slots)).toEqual([1]);
    await new Promise((r) => setTimeout(r, RECLAIM_MS + 30));
    expect(grants.map((g) => g.slots)).toEqual([1, 0]);
    node.close();
  });
});

describe('rps', () => {
  it('admits the burst plus rps a second across hosts, and refuses the rest with Retry-After', () => {
    const { pump, admit, advance } = setup(2);
    const caps = { concurrency: 0, rps: 10 };
    let ok = 0;
    const refusals: Refusal[] = [];
    // Two hosts, each offered a request every 10 ms for one simulated second: 200 requests at 20× the rate.
    for (let t = 0; t < 1000; t += 10) {
      for (const h of [0, 1]) {
        const b = admit(h, caps);
        pump();
        if (b.outcome?.refusal === undefined) ok++;
        else refusals.push(b.outcome.refusal);
      }
      advance(10);
    }
    // Burst 1 (a tenth of 10, at least 1) + 10 a second for the 0.99 s between the first and last grant.
    expect(ok).toBeLessThanOrEqual(1 + 10);
    expect(ok).toBeGreaterThanOrEqual(9);
    expect(refusals).toHaveLength(200 - ok);
    for (const r of refusals) {
      expect(r.code).toBe('ERR_RATE_LIMITED');
      expect(r.retryAfterSec).toBe(1);
      expect(r.message).toBe('function "f" is over its rate limit of 10 requests per second on this node; retry after 1 s');
    }
  });

  it('refuses a flood past the rate on the host, without a message per request', () => {
    const { pump, admit, sent } = setup(1);
    const caps = { concurrency: 0, rps: 1 };
    const first = admit(0, caps);
    pump();
    expect(first.outcome?.refusal).toBeUndefined();
    const second = admit(0, caps);
    pump();
    expect(second.outcome?.refusal?.code).toBe('ERR_RATE_LIMITED');
    const before = sent.toNode;
    for (let i = 0; i < 50; i++) {
      const b = admit(0, caps);
      expect(b.outcome?.refusal?.code).toBe('ERR_RATE_LIMITED');
    }
    expect(sent.toNode).toBe(before);
  });
});
