// `require` exists only at bundle time: esbuild replaces each call with the
// bundled module's initialiser, which runs on the first call rather than when
// the prelude loads. That is how a heavy library (streams, whatwg-url) stays
// unparsed source in the snapshot until a worker first touches its global
// (docs/web-platform-libs.md, "Lazy globals"). Every call must name a
// literal module so that esbuild can resolve it; none survive into the bundle.
declare function require(id: string): unknown;
