// One keep-alive HTTP/1.1 connection held the way an ordinary client holds it
// (undici's Client: one socket, one request at a time), and the one place a
// bench request is timed: sent → response head → body fully read.

import type { Readable } from 'node:stream';
import { Client, type Dispatcher } from 'undici';

export interface CallResult {
  status: number;
  /** Client-side: request sent → response head received, in ms. */
  ttfbMs: number;
  /** Client-side: request sent → body fully read, in ms. */
  totalMs: number;
  /** Server-Timing `cold;dur`, when the request made an isolate live. */
  coldMs: number | undefined;
  /** Server-Timing `cpu;dur`: the CPU the request was charged. */
  cpuMs: number | undefined;
  /** Server-Timing `wall;dur`: inside the isolate host, from dispatch to the response head. */
  wallMs?: number | undefined;
  /** The `edgefn-error` header, or the client-side error when the request failed. */
  error: string | undefined;
  body: string;
}

export interface RequestSpec {
  /** The Host header: `<function>.localhost` routes to a function. */
  host: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: Readable | Uint8Array | string | null;
}

const METRIC = { cold: /(?:^|,)\s*cold;dur=([\d.]+)/, cpu: /(?:^|,)\s*cpu;dur=([\d.]+)/, wall: /(?:^|,)\s*wall;dur=([\d.]+)/ };

export function parseServerTiming(h: string | string[] | undefined): { cold: number | undefined; cpu: number | undefined; wall: number | undefined } {
  const s = Array.isArray(h) ? h.join(', ') : (h ?? '');
  const metric = (re: RegExp) => {
    const m = re.exec(s);
    return m ? Number(m[1]) : undefined;
  };
  return { cold: metric(METRIC.cold), cpu: metric(METRIC.cpu), wall: metric(METRIC.wall) };
}

/** One request through `d`, timed; a failed request is a result with status 0, not a throw. */
export async function timedRequest(d: Dispatcher, spec: RequestSpec): Promise<CallResult> {
  const t0 = performance.now();
  try {
    const res = await d.request({ method: (spec.method ?? 'GET') as Dispatcher.HttpMethod, path: spec.path ?? '/', headers: { ...spec.headers, host: spec.host }, body: spec.body ?? null });
    const ttfbMs = performance.now() - t0;
    const body = await res.body.text();
    const totalMs = performance.now() - t0;
    const st = parseServerTiming(res.headers['server-timing']);
    const err = res.headers['edgefn-error'];
    return { status: res.statusCode, ttfbMs, totalMs, coldMs: st.cold, cpuMs: st.cpu, wallMs: st.wall, error: Array.isArray(err) ? err[0] : err, body };
  } catch (e) {
    const ms = performance.now() - t0;
    return { status: 0, ttfbMs: ms, totalMs: ms, coldMs: undefined, cpuMs: undefined, error: e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e), body: '' };
  }
}

/**
 * A single kept-alive connection. `connects` counts the sockets it opened, so
 * a bench can show its requests really shared one (a server that closed the
 * connection would be paid for by a reconnect inside some request's time).
 */
export class Connection {
  readonly #client: Client;
  #closed: Promise<void> | undefined;
  connects = 0;

  constructor(origin: string) {
    // Node's server hints `Keep-Alive: timeout=5`, which undici honours over this; traffic here never idles that long.
    this.#client = new Client(origin, { pipelining: 1, keepAliveTimeout: 60_000, bodyTimeout: 120_000, headersTimeout: 120_000 });
    this.#client.on('connect', () => this.connects++);
  }

  request(spec: RequestSpec): Promise<CallResult> {
    return timedRequest(this.#client, spec);
  }

  get(host: string, path = '/'): Promise<CallResult> {
    return timedRequest(this.#client, { host, path });
  }

  /** Let the request in flight finish, then close the socket; idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#client.close().catch(() => {});
    return this.#closed;
  }

  /** Drop the socket now, failing a request in flight; idempotent, also after close(). */
  destroy(): Promise<void> {
    return this.#client.destroyed ? Promise.resolve() : this.#client.destroy().catch(() => {});
  }
}
