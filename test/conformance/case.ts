// What a conformance case is: one worker, the requests sent to it in order,
// and which parts of each response must be the same on edgefn and on workerd.
//
// Requests of a case run in the order listed, against the same deployed
// worker on each side, so a case may keep state between them (a store, a
// counter set by waitUntil). A request skipped on one side is skipped on both.

export type WorkerFormat = 'module' | 'service-worker';

/** How response bodies are compared. */
export type BodyComparison =
  /** Byte-for-byte. */
  | 'exact'
  /** Both parse as JSON and are deeply equal (key order ignored). */
  | 'json'
  /** Bodies differ by design (e.g. error pages); only status and headers are compared. */
  | 'ignore'
  /** Both texts are passed through the normaliser (for dates, random ids…), then compared exactly. */
  | { normalise: (text: string) => string };

export interface ConformanceRequest {
  /** Test title: what this request shows. */
  name: string;
  method?: string;
  /** Path and query, starting with '/'. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The status the case expects; checked on both sides so a broken case cannot pass by failing alike. */
  status: number;
  /** Response headers compared by value (lowercase names); 'set-cookie' compares getSetCookie() lists. */
  headers_compared?: readonly string[];
  body_compared?: BodyComparison;
  /**
   * With body_compared 'json' on an object body: top-level keys that differ
   * by design, each with its reason. They are left out of the comparison and
   * render as skipped tests; every other key is still compared.
   */
  json_divergences?: Record<string, string>;
  /** Wait this long before sending (ms), e.g. for waitUntil work to finish. */
  delay_ms?: number;
  /** Why this request is not compared. Renders as a skipped test carrying the reason. */
  skip?: string;
}

export interface ConformanceCase {
  /** Worker name on both sides; a DNS label (edgefn serves it at <name>.localhost). */
  name: string;
  /** File in test/conformance/workers/ holding the worker's TypeScript source. */
  worker: string;
  format?: WorkerFormat;
  /** Vars (module: env; service-worker: globals). `origin` is the URL of the suite's local origin server. */
  vars?: (ctx: { origin: string }) => Record<string, string>;
  /** Compatibility flags, given to both sides (e.g. nodejs_compat); its `node:` imports are left to them. */
  compatibilityFlags?: readonly string[];
  requests: readonly ConformanceRequest[];
}

/** Identity helper that keeps cases checked against the types above. */
export function defineCase(c: ConformanceCase): ConformanceCase {
  return c;
}

/** Normalisers for volatile parts of bodies. */
export const normalise = {
  /** RFC 4122 UUIDs → <uuid>. */
  uuids: (s: string): string => s.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>'),
} as const;
