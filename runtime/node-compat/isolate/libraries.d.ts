// The Node core ports bundled into nodejs_compat workers ship no types (buffer
// does, and is typed by its own index.d.ts). Typed here loosely: these files
// re-export them and add nothing that depends on their shapes.
declare module 'events' {
  const EventEmitter: { new (): object; once(emitter: unknown, name: string): Promise<unknown[]>; EventEmitter: unknown; defaultMaxListeners: number };
  export default EventEmitter;
}
declare module 'util' {
  const util: Record<string, unknown> & { inspect: unknown; format: unknown; promisify: unknown; types: Record<string, unknown> };
  export default util;
}
declare module 'path-browserify' {
  const path: Record<string, unknown>;
  export default path;
}
declare module 'assert' {
  const assert: Record<string, unknown> & ((value: unknown, message?: string) => void);
  export default assert;
}
declare module 'readable-stream/lib/ours/browser.js' {
  const stream: Record<string, unknown>;
  export default stream;
}
declare module 'string_decoder' {
  export const StringDecoder: unknown;
}

// `require` exists only at bundle time: esbuild replaces each call with the
// bundled module's initialiser, which runs on the first call. Every call must
// name a literal module; none survive into the bundle.
declare function require(id: string): unknown;
