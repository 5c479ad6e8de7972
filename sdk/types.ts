// Types for worker authors. They describe what edgefn passes to a worker and
// match the names and shapes Cloudflare Workers uses, so a worker typed
// against these also type-checks against @cloudflare/workers-types.
//
// Only `Request` and `Response` are needed from the environment, and every
// lib that has fetch (DOM, WebWorker, @types/node, workers-types) declares them.

/** The third argument of `fetch`: work that outlives the response. */
export interface ExecutionContext {
  /**
   * Keep the request alive until `promise` settles, after the response has
   * been sent. The work still counts against the request's wall-time limit;
   * a rejection is logged, not returned to the client.
   */
  waitUntil(promise: Promise<unknown>): void;
  /**
   * Accepted for compatibility with Cloudflare Workers. edgefn has no origin
   * to fall back to, so an exception still produces an error response.
   */
  passThroughOnException(): void;
}

/**
 * The default export of a `module`-format worker:
 *
 *     export default {
 *       async fetch(request, env, ctx) { return new Response(env.GREETING); },
 *     } satisfies ExportedHandler<{ GREETING: string }>;
 *
 * `Env` holds the function's vars and secrets, all strings.
 */
export interface ExportedHandler<Env = unknown> {
  fetch?(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response>;
  /** Runs on the function's cron triggers (`"triggers": { "crons": [...] }`) and on `edgefn trigger`. */
  scheduled?(controller: ScheduledController, env: Env, ctx: ExecutionContext): void | Promise<void>;
}

/** The first argument of `scheduled`. */
export interface ScheduledController {
  /** The cron expression that fired. */
  readonly cron: string;
  /** The time it fired for, in ms since the epoch. */
  readonly scheduledTime: number;
  /** Accepted for compatibility; edgefn never retries a failed run. */
  noRetry(): void;
}

/** What a `service-worker`-format script receives in `addEventListener('scheduled', …)`. */
export interface ScheduledEvent {
  readonly type: 'scheduled';
  readonly cron: string;
  readonly scheduledTime: number;
  waitUntil(promise: Promise<unknown>): void;
  noRetry(): void;
}

/** Options of `KVNamespace.put`; times in seconds. */
export interface KVNamespacePutOptions {
  /** Seconds from now; at least 60. */
  expirationTtl?: number;
  /** Seconds since the epoch; at least 60 s ahead. */
  expiration?: number;
  /** Any JSON value, at most 1024 bytes serialized. */
  metadata?: unknown;
}

export interface KVNamespaceListKey<Metadata = unknown> {
  name: string;
  expiration?: number;
  metadata?: Metadata;
}

export type KVNamespaceListResult<Metadata = unknown> =
  | { keys: KVNamespaceListKey<Metadata>[]; list_complete: false; cursor: string; cacheStatus: string | null }
  | { keys: KVNamespaceListKey<Metadata>[]; list_complete: true; cacheStatus: string | null };

/** A KV binding (`"kv": { "CACHE": "my-namespace" }` puts one at `env.CACHE`). */
export interface KVNamespace {
  get(key: string, type?: 'text' | { type: 'text' }): Promise<string | null>;
  get<T = unknown>(key: string, type: 'json' | { type: 'json' }): Promise<T | null>;
  get(key: string, type: 'arrayBuffer' | { type: 'arrayBuffer' }): Promise<ArrayBuffer | null>;
  get(key: string, type: 'stream' | { type: 'stream' }): Promise<ReadableStream | null>;
  getWithMetadata<Metadata = unknown>(key: string, type?: 'text' | { type: 'text' }): Promise<{ value: string | null; metadata: Metadata | null; cacheStatus: string | null }>;
  getWithMetadata<T = unknown, Metadata = unknown>(key: string, type: 'json' | { type: 'json' }): Promise<{ value: T | null; metadata: Metadata | null; cacheStatus: string | null }>;
  getWithMetadata<Metadata = unknown>(key: string, type: 'arrayBuffer' | { type: 'arrayBuffer' }): Promise<{ value: ArrayBuffer | null; metadata: Metadata | null; cacheStatus: string | null }>;
  getWithMetadata<Metadata = unknown>(key: string, type: 'stream' | { type: 'stream' }): Promise<{ value: ReadableStream | null; metadata: Metadata | null; cacheStatus: string | null }>;
  put(key: string, value: string | ArrayBuffer | ArrayBufferView | ReadableStream, options?: KVNamespacePutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  list<Metadata = unknown>(options?: { prefix?: string; limit?: number; cursor?: string }): Promise<KVNamespaceListResult<Metadata>>;
}

/**
 * What a `service-worker`-format script receives in
 * `addEventListener('fetch', (event) => event.respondWith(…))`.
 * Its vars and secrets are globals instead of an `env` argument.
 */
export interface FetchEvent {
  readonly type: 'fetch';
  readonly request: Request;
  /** Must be called synchronously, once, inside the listener. */
  respondWith(response: Response | Promise<Response>): void;
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}
