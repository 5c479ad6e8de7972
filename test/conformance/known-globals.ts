// Globals that differ between edgefn and workerd (compatibility date
// 2025-01-01, no flags), each with its reason. The globals test in
// conformance.test.ts fails on any difference not listed here; a listed
// global that edgefn gains later is simply no longer a difference.

/** On edgefn, not on workerd. */
export const EDGEFN_ONLY_GLOBALS: Record<string, string> = {
  WeakRef: 'plain V8 global; workerd hides it unless the enable_weak_ref compatibility flag is set',
  FinalizationRegistry: 'plain V8 global; workerd hides it unless the enable_weak_ref compatibility flag is set',
  Performance: 'the class of `performance`; workerd exposes the instance only',
};

/** On workerd, not on edgefn. */
export const WORKERD_ONLY_GLOBALS: Record<string, string> = {
  // Deliberately absent.
  Cloudflare: 'Cloudflare-specific namespace (compatibility flags)',
  FixedLengthStream: 'Cloudflare-specific stream class; not implemented',
  IdentityTransformStream: 'Cloudflare-specific stream class; not implemented',
  TailEvent: 'tail workers are not supported',
  TraceEvent: 'tail workers are not supported (alias of TailEvent)',
  // Not implemented yet.
  WebSocketRequestResponsePair: 'WebSockets not implemented (Durable Object hibernation API)',
  // Small members of the global scope edgefn does not model.
  Body: 'legacy mixin class workerd exposes; edgefn has no Body global',
  PromiseRejectionEvent: 'not implemented (no unhandledrejection events)',
  ExtendableEvent: "not exposed (edgefn's FetchEvent is not an Event subclass)",
  reportError: 'not exposed as a global (edgefn reports to the function log internally)',
  dispatchEvent: "the global scope is not an EventTarget in edgefn (addEventListener only takes 'fetch' and 'scheduled')",
  origin: 'self.origin not implemented',
  Navigator: 'the class of `navigator` is not exposed (the instance is)',
  ServiceWorkerGlobalScope: "the global scope's classes are not exposed",
  WorkerGlobalScope: "the global scope's classes are not exposed",
};
