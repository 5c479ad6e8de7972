// `require` exists only at bundle time: esbuild replaces each call with the
// bundled module's initialiser, which runs on the first call rather than when
// the prelude loads. That is how a heavy library (streams, whatwg-url) stays
// unparsed source in the snapshot until a worker first touches its global
// (docs/web-platform-libs.md, "Lazy globals"). Every call must name a
// literal module so that esbuild can resolve it; none survive into the bundle.
declare function require(id: string): unknown;

// The prelude's files that lazy modules import, by path from the project
// root: a module esbuild makes while building the prelude (runtime/prelude.ts).
declare module 'edgefn:core-modules' {
  export function core(file: string): Readonly<Record<string, unknown>> | undefined;
}

// @exodus/bytes' files behind its public entries (runtime/prelude.ts, PRELUDE_ALIASES).
declare module 'edgefn:exodus-encoding' {
  export { TextDecoder, TextEncoder, TextDecoderStream, TextEncoderStream } from '@exodus/bytes/encoding-lite.js';
  export function setMultibyte(createDecoder: (encoding: string, loose?: boolean) => (bytes: Uint8Array, stream?: boolean) => string, createEncoder: (encoding: string, onError?: unknown) => (s: string) => Uint8Array): void;
}
declare module 'edgefn:exodus-multi-byte' {
  export function multibyteEncoder(encoding: string, onError?: unknown): (s: string) => Uint8Array;
}
