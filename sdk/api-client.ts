// A typed client for the edgefn control API (see wire.ts for the contract).
// It only needs the global fetch, so it runs in Node 18+, browsers and workers.

import { EdgefnApiError } from './api-error.ts';
import { readEventStream } from './event-stream.ts';
import {
  FUNCTION_NAME_PATTERN,
  type DeleteFunctionResponse,
  type DeployRequest,
  type DeployResponse,
  type ErrorResponse,
  type FunctionInfo,
  type ListFunctionsResponse,
  type LogEntry,
  type LogsResponse,
  type RegionsResponse,
  type RoutingResponse,
  type TrafficRequest,
  type VersionsResponse,
  KV_NAMESPACE_PATTERN,
  type KvListResult,
  type TriggerResponse,
} from './wire.ts';

export { EdgefnApiError, isEdgefnApiError, CLIENT_ERROR_CODES, type ClientErrorCode } from './api-error.ts';

export interface EdgefnClientOptions {
  /** Base URL of the control API, e.g. `http://127.0.0.1:8081`. Required; a trailing slash is ignored. */
  api: string;
  /** Bearer token; the node writes it to its token file at start-up. Required. */
  token: string;
  /** Per-call time limit in milliseconds, covering connect, upload and reading the answer. Default 60 000. */
  timeoutMs?: number;
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
}

export interface TailOptions {
  /** Stops the tail; the iterator then ends. */
  signal?: AbortSignal;
  /** Start after this log cursor (a line's `id`) or ISO time; default: new lines only. */
  since?: string;
  /** Wait before reconnecting after the stream broke, ms. Default 1000. */
  reconnectMs?: number;
  /**
   * A connection that has carried nothing, not even a heartbeat, for this
   * long is taken as dead and replaced, ms. Default 45 000 (three of the
   * node's default 15 s heartbeats).
   */
  idleMs?: number;
  /** Told about each (re)connection: `error` is why the previous one ended (undefined on the first). */
  onConnect?(info: { reconnect: boolean; error: unknown }): void;
}

export interface DeployResult extends DeployResponse {
  /** True when this deploy created the function (HTTP 201), false when it replaced a version (HTTP 200). */
  created: boolean;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class EdgefnClient {
  readonly api: string;
  #token: string;
  #timeoutMs: number;
  #fetch: typeof globalThis.fetch;

  constructor(options: EdgefnClientOptions) {
    if (typeof options?.api !== 'string' || !URL.canParse(options.api)) {
      throw new TypeError(`EdgefnClient: options.api must be an absolute URL like "http://127.0.0.1:8081", got ${JSON.stringify(options?.api)}`);
    }
    const protocol = new URL(options.api).protocol;
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new TypeError(`EdgefnClient: options.api must be an http: or https: URL, got ${JSON.stringify(options.api)}`);
    }
    if (typeof options.token !== 'string' || options.token === '') {
      throw new TypeError('EdgefnClient: options.token must be a non-empty string (the node prints where its token file is when it starts)');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError(`EdgefnClient: options.timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new TypeError('EdgefnClient: no global fetch in this environment; pass options.fetch');
    }
    this.api = options.api.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = timeoutMs;
    this.#fetch = fetchImpl;
  }

  /** Create or replace a function. Resolves with its new version and data-plane URL. */
  async deploy(name: string, body: DeployRequest): Promise<DeployResult> {
    const { status, body: out } = await this.#call('PUT', functionPath(name), body);
    const result = expectObject<DeployResponse>(out, ['name', 'version', 'url'], status);
    return { ...result, created: status === 201 };
  }

  async list(): Promise<FunctionInfo[]> {
    const { status, body } = await this.#call('GET', '/v1/functions');
    return expectObject<ListFunctionsResponse>(body, ['functions'], status).functions;
  }

  /** Rejects with code ERR_NOT_FOUND (status 404) when there is no such function. */
  async get(name: string): Promise<FunctionInfo> {
    const { status, body } = await this.#call('GET', functionPath(name));
    return expectObject<FunctionInfo>(body, ['name', 'version', 'url'], status);
  }

  /** Rejects with code ERR_NOT_FOUND (status 404) when there is no such function. */
  async delete(name: string): Promise<DeleteFunctionResponse> {
    const { status, body } = await this.#call('DELETE', functionPath(name));
    return expectObject<DeleteFunctionResponse>(body, ['deleted'], status);
  }

  /** The cluster's regions as the answering node sees them: its own first, then nearest first. */
  async regions(): Promise<RegionsResponse> {
    const { status, body } = await this.#call('GET', '/v1/regions');
    return expectObject<RegionsResponse>(body, ['region', 'regions'], status);
  }

  /** The function's recent console output and uncaught errors, oldest first. */
  async logs(name: string): Promise<LogEntry[]> {
    const { status, body } = await this.#call('GET', `${functionPath(name)}/logs`);
    return expectObject<LogsResponse>(body, ['logs'], status).logs;
  }

  /** The function's stored versions, newest first, and how its traffic is split. */
  async versions(name: string): Promise<VersionsResponse> {
    const { status, body } = await this.#call('GET', `${functionPath(name)}/versions`);
    return expectObject<VersionsResponse>(body, ['name', 'current', 'versions', 'traffic'], status);
  }

  /**
   * Make `version` current with all traffic (default: the version current
   * before the current one). Rejects with ERR_NOT_FOUND (404) for a version
   * that was pruned or never deployed.
   */
  async rollback(name: string, version?: number): Promise<RoutingResponse> {
    const { status, body } = await this.#call('POST', `${functionPath(name)}/rollback`, version === undefined ? {} : { version });
    return expectObject<RoutingResponse>(body, ['name', 'current', 'traffic'], status);
  }

  /** Split the function's traffic between stored versions by percent (summing to 100). */
  async setTraffic(name: string, request: TrafficRequest): Promise<RoutingResponse> {
    const { status, body } = await this.#call('PUT', `${functionPath(name)}/traffic`, request);
    return expectObject<RoutingResponse>(body, ['name', 'current', 'traffic'], status);
  }

  /**
   * Follow a function's log live (GET /v1/functions/{name}/logs/tail, Server-
   * Sent Events): yields each line as the node receives it. A broken
   * connection is re-opened with Last-Event-ID, so no line still kept by the
   * node is missed or repeated. Ends when `signal` aborts; rejects on an
   * answer that retrying cannot fix (401, 404, 400).
   */
  async *tail(name: string, options: TailOptions = {}): AsyncGenerator<LogEntry> {
    const url = `${this.api}${functionPath(name)}/logs/tail`;
    const reconnectMs = options.reconnectMs ?? 1000;
    const idleMs = options.idleMs ?? 45_000;
    let last = options.since;
    let error: unknown;
    let reconnect = false;
    const outer = options.signal;
    // A function, not a property read: the signal changes under the loop.
    const stopped = (): boolean => outer?.aborted === true;
    while (!stopped()) {
      const connection = new AbortController();
      const stop = () => connection.abort();
      outer?.addEventListener('abort', stop);
      let idle: ReturnType<typeof setTimeout> | undefined;
      const alive = () => {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(new Error(`no data (not even a heartbeat) for ${idleMs} ms`)), idleMs);
      };
      try {
        alive();
        const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream' };
        if (last !== undefined) headers['last-event-id'] = last;
        const response = await this.#fetch(url, { headers, signal: connection.signal });
        if (!response.ok) {
          const text = await response.text();
          let body: Partial<ErrorResponse> | undefined;
          try {
            body = JSON.parse(text) as Partial<ErrorResponse>;
          } catch {
            body = undefined;
          }
          const e = body?.error;
          const err = new EdgefnApiError(response.status, typeof e?.code === 'string' ? e.code : 'ERR_API_BAD_RESPONSE', typeof e?.message === 'string' ? e.message : `GET ${url}: HTTP ${response.status}: ${snippet(text)}`);
          // A 5xx may pass (a node restarting); a 4xx will not.
          if (response.status < 500) throw err;
          error = err;
        } else if (response.body !== null) {
          options.onConnect?.({ reconnect, error });
          for await (const ev of readEventStream(response.body, alive)) {
            if (ev.event !== 'log') continue;
            if (ev.id !== undefined && ev.id !== '') last = ev.id;
            yield JSON.parse(ev.data) as LogEntry;
          }
          error = new Error('the node closed the stream');
        }
      } catch (err) {
        if (err instanceof EdgefnApiError && err.status >= 400 && err.status < 500) throw err;
        if (stopped()) return;
        error = connection.signal.aborted ? connection.signal.reason : err;
      } finally {
        clearTimeout(idle);
        outer?.removeEventListener('abort', stop);
        connection.abort();
      }
      reconnect = true;
      if (stopped()) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, reconnectMs);
        outer?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    }
  }

  /** Run the function's scheduled handler now, as `cron`; resolves with the run's outcome. */
  async trigger(name: string, cron: string): Promise<TriggerResponse> {
    const { status, body } = await this.#call('POST', `${functionPath(name)}/trigger`, { cron });
    return expectObject<TriggerResponse>(body, ['name', 'cron', 'scheduledTime', 'outcome'], status);
  }

  /** A KV value's bytes, or undefined when the key does not exist (or has expired). */
  async kvGet(namespace: string, key: string): Promise<Uint8Array | undefined> {
    const r = await this.#callBytes('GET', kvValuePath(namespace, key));
    return r.status === 404 ? undefined : r.bytes;
  }

  /** Write a KV value; `expirationTtl` and `expiration` in seconds, `metadata` any JSON value (see KV_LIMITS). */
  async kvPut(namespace: string, key: string, value: Uint8Array | string, options: { expirationTtl?: number; expiration?: number; metadata?: unknown } = {}): Promise<void> {
    const q = new URLSearchParams();
    if (options.expirationTtl !== undefined) q.set('expiration_ttl', String(options.expirationTtl));
    if (options.expiration !== undefined) q.set('expiration', String(options.expiration));
    if (options.metadata !== undefined) q.set('metadata', JSON.stringify(options.metadata));
    const query = q.size > 0 ? `?${q}` : '';
    await this.#callBytes('PUT', kvValuePath(namespace, key) + query, typeof value === 'string' ? new TextEncoder().encode(value) : value);
  }

  async kvDelete(namespace: string, key: string): Promise<void> {
    await this.#callBytes('DELETE', kvValuePath(namespace, key));
  }

  /** One page of a namespace's keys in byte order; pass `cursor` back for the next. */
  async kvList(namespace: string, options: { prefix?: string; limit?: number; cursor?: string } = {}): Promise<KvListResult> {
    const q = new URLSearchParams();
    if (options.prefix !== undefined) q.set('prefix', options.prefix);
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.cursor !== undefined) q.set('cursor', options.cursor);
    const { status, body } = await this.#call('GET', `${kvPath(namespace)}/keys${q.size > 0 ? `?${q}` : ''}`);
    return expectObject<KvListResult>(body, ['keys', 'list_complete'], status);
  }

  /**
   * A call whose answer may be raw bytes (a KV value). A 404 whose error is
   * ERR_NOT_FOUND comes back as status 404, for the caller to read as absent.
   */
  async #callBytes(method: string, path: string, bytes?: Uint8Array): Promise<{ status: number; bytes: Uint8Array }> {
    const url = this.api + path;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (bytes !== undefined) headers['content-type'] = 'application/octet-stream';
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    let out: Uint8Array;
    try {
      response = await this.#fetch(url, { method, headers, body: bytes === undefined ? null : (bytes as Uint8Array<ArrayBuffer>), signal });
      out = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      if (signal.aborted) throw new EdgefnApiError(0, 'ERR_API_TIMEOUT', `${method} ${url}: no answer within ${this.#timeoutMs} ms`, { cause: err });
      throw new EdgefnApiError(0, 'ERR_API_UNREACHABLE', `${method} ${url}: ${transportReason(err)}`, { cause: err });
    }
    if (response.ok) return { status: response.status, bytes: out };
    const text = new TextDecoder().decode(out);
    let error: Partial<ErrorResponse['error']> | undefined;
    try {
      error = (JSON.parse(text) as Partial<ErrorResponse>).error;
    } catch {
      error = undefined;
    }
    if (error === undefined || typeof error.code !== 'string' || typeof error.message !== 'string') {
      throw new EdgefnApiError(response.status, 'ERR_API_BAD_RESPONSE', `${method} ${url}: HTTP ${response.status} without an error body: ${snippet(text)}`);
    }
    if (response.status === 404 && error.code === 'ERR_NOT_FOUND' && method === 'GET') return { status: 404, bytes: new Uint8Array() };
    throw new EdgefnApiError(response.status, error.code, error.message);
  }

  async #call(method: string, path: string, json?: unknown): Promise<{ status: number; body: unknown }> {
    const url = this.api + path;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (json !== undefined) headers['content-type'] = 'application/json';
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    let text: string;
    // fetch reports every transport failure as a bare TypeError("fetch failed")
    // with the real reason in `cause`; this is the one place that turns those
    // into our codes.
    try {
      response = await this.#fetch(url, { method, headers, body: json === undefined ? null : JSON.stringify(json), signal });
      text = await response.text();
    } catch (err) {
      if (signal.aborted) {
        throw new EdgefnApiError(0, 'ERR_API_TIMEOUT', `${method} ${url}: no answer within ${this.#timeoutMs} ms`, { cause: err });
      }
      const reason = transportReason(err);
      throw new EdgefnApiError(0, 'ERR_API_UNREACHABLE', `${method} ${url}: ${reason}`, { cause: err });
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch (err) {
      throw new EdgefnApiError(response.status, 'ERR_API_BAD_RESPONSE', `${method} ${url}: HTTP ${response.status} with a body that is not JSON: ${snippet(text)}`, { cause: err });
    }
    if (!response.ok) {
      const error = (body as Partial<ErrorResponse> | undefined)?.error;
      if (error !== undefined && typeof error.code === 'string' && typeof error.message === 'string') {
        throw new EdgefnApiError(response.status, error.code, error.message);
      }
      throw new EdgefnApiError(response.status, 'ERR_API_BAD_RESPONSE', `${method} ${url}: HTTP ${response.status} without an error body: ${snippet(text)}`);
    }
    return { status: response.status, body };
  }
}

function functionPath(name: string): string {
  // Checked here as well as on the server so a bad name never becomes a
  // different path (e.g. "a/logs"), and the caller sees the same code either way.
  if (typeof name !== 'string' || !FUNCTION_NAME_PATTERN.test(name)) {
    throw new EdgefnApiError(0, 'ERR_INVALID_INPUT', `invalid function name ${JSON.stringify(name)}: use 1 to 63 lowercase letters, digits and hyphens`);
  }
  return `/v1/functions/${name}`;
}

function kvPath(namespace: string): string {
  if (typeof namespace !== 'string' || !KV_NAMESPACE_PATTERN.test(namespace)) {
    throw new EdgefnApiError(0, 'ERR_INVALID_INPUT', `invalid KV namespace ${JSON.stringify(namespace)}: use 1 to 64 characters of A-Z, a-z, 0-9, _ and -`);
  }
  return `/v1/kv/${namespace}`;
}

function kvValuePath(namespace: string, key: string): string {
  if (typeof key !== 'string' || key === '') throw new EdgefnApiError(0, 'ERR_INVALID_INPUT', 'a KV key must be a non-empty string');
  return `${kvPath(namespace)}/values/${encodeURIComponent(key)}`;
}

function expectObject<T>(body: unknown, keys: readonly (keyof T & string)[], status: number): T {
  if (body === null || typeof body !== 'object' || keys.some((k) => !(k in body))) {
    throw new EdgefnApiError(status, 'ERR_API_BAD_RESPONSE', `expected a JSON object with ${keys.join(', ')}; got ${snippet(JSON.stringify(body) ?? '')}`);
  }
  return body as T;
}

/** The most specific reason fetch gives, e.g. "connect ECONNREFUSED 127.0.0.1:8081". */
function transportReason(err: unknown): string {
  let e: unknown = err;
  // undici nests causes (TypeError → AggregateError/SystemError); the innermost is the useful one.
  for (let depth = 0; depth < 4 && e instanceof Error && e.cause !== undefined; depth++) e = e.cause;
  if (e instanceof AggregateError && e.errors[0] instanceof Error) e = e.errors[0];
  return e instanceof Error ? e.message || String(e) : String(e);
}

function snippet(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
