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
