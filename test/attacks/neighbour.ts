// A well-behaved neighbour under steady load while a hostile tenant attacks
// the same node: one keep-alive connection sends requests back to back for as
// long as the attack lasts and records every answer. The attack suites assert
// that the neighbour saw no error at all and print its p99; they do not bound
// the latency, which on a shared 2-core machine says more about the machine
// than about isolation (bench/attacks.ts measures the ratio to a quiet p99).

import { Client } from 'undici';
import type { StartedNode } from '../helpers/node.ts';

/** The neighbour's function: answers NEIGHBOUR_BODY at once. */
export const NEIGHBOUR_SCRIPT = `export default { fetch() { return new Response('fine'); } }`;
export const NEIGHBOUR_BODY = 'fine';

export interface NeighbourReport {
  requests: number;
  /** One line per failed request: status, edgefn-error, Retry-After (when sent) and body, or the client error. */
  errors: string[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface NeighbourLoad {
  stop(): Promise<NeighbourReport>;
}

/** The q-quantile of sorted `xs` (nearest rank). */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/**
 * Start the load on function `name` of `node`. Each request must answer 200
 * with `expected` within `timeoutMs` (a hung neighbour is an error too).
 * stop() waits for the request in flight and, so that an attack too short to
 * overlap any request cannot pass unobserved, for at least `minRequests`.
 */
export function loadNeighbour(node: StartedNode, name = 'neighbour', options: { expected?: string; timeoutMs?: number; minRequests?: number } = {}): NeighbourLoad {
  const expected = options.expected ?? NEIGHBOUR_BODY;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const minRequests = options.minRequests ?? 5;
  const client = new Client(`http://127.0.0.1:${node.port}`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, pipelining: 1 });
  const latencies: number[] = [];
  const errors: string[] = [];
  let stopping = false;
  const loop = (async () => {
    while (!stopping || latencies.length + errors.length < minRequests) {
      const t0 = performance.now();
      try {
        const res = await client.request({ path: '/', method: 'GET', headers: { host: `${name}.localhost` } });
        const body = await res.body.text();
        const retryAfter = res.headers['retry-after'] === undefined ? '' : ` retry-after=${String(res.headers['retry-after'])}`;
        if (res.statusCode !== 200 || body !== expected) errors.push(`${res.statusCode} ${String(res.headers['edgefn-error'] ?? '')}${retryAfter} ${body.slice(0, 200)}`);
        else latencies.push(performance.now() - t0);
      } catch (err) {
        errors.push(`client error after ${Math.round(performance.now() - t0)} ms: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      }
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      await client.close();
      const sorted = latencies.slice().sort((a, b) => a - b);
      return { requests: latencies.length + errors.length, errors, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.at(-1) ?? NaN };
    },
  };
}

/**
 * The neighbour's errors that are not a clean 503 host-restart with
 * Retry-After: the one answer a neighbour may get, for a request that was in
 * flight on a host that died (SECURITY.md). A reset, a hang or any other
 * status is listed.
 */
export function uncleanErrors(errors: string[]): string[] {
  return errors.filter((e) => !/^503 host-restart retry-after=1 /.test(e));
}

/** Run `attack` while the neighbour is under load; print the neighbour's latency under the attack's label. */
export async function duringAttack<T>(node: StartedNode, label: string, attack: () => Promise<T>): Promise<{ result: T; neighbour: NeighbourReport }> {
  const load = loadNeighbour(node);
  const settled = await attack().then(
    (value) => ({ ok: true as const, value }),
    (reason: unknown) => ({ ok: false as const, reason }),
  );
  const n = await load.stop();
  console.log(`[attack ${label}] neighbour: ${n.requests} requests, ${n.errors.length} errors, p50 ${n.p50Ms.toFixed(1)} ms, p99 ${n.p99Ms.toFixed(1)} ms, max ${n.maxMs.toFixed(1)} ms${n.errors.length > 0 ? `; errors: ${n.errors.join(' | ')}` : ''}`);
  if (!settled.ok) throw settled.reason;
  return { result: settled.value, neighbour: n };
}

/** What a data-plane answer carried: status, edgefn-error, body text, and how long it took. */
export interface Answer {
  status: number;
  error: string | null;
  body: string;
  ms: number;
  cpuMs: number;
}

export async function callTimed(node: StartedNode, name: string, path = '/', init: RequestInit = {}): Promise<Answer> {
  const t0 = performance.now();
  const res = await node.call(name, path, init);
  const body = await res.text();
  const cpu = /cpu;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1];
  return { status: res.status, error: res.headers.get('edgefn-error'), body, ms: performance.now() - t0, cpuMs: cpu === undefined ? NaN : Number(cpu) };
}
