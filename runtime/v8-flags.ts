// V8 flags for every process that runs tenants' isolates (the isolate hosts).
// Flags are process-wide: isolated-vm's isolates share them with Node's own.
//
// `--no-maglev --no-concurrent-osr`: with V8 13.6's defaults (Node 24) a hot
// loop in a function called only a few times runs unoptimized for good in
// most isolates. The loop is compiled for on-stack replacement in the
// background, first by Maglev and then by TurboFan, and the optimized code is
// often never entered: a plain counting loop of 20 million steps took ~95 ms
// a call in 3 of 4 isolates, and ~6 ms in the fourth, call after call (the
// same in Node's own main thread). A worker's CPU-bound code was then up to
// fifteen times slower than it should be, and dearer in one isolate than in
// the next, against the same CPU budget. With Maglev off and on-stack
// replacement compiled at once (TurboFan, on the isolate's thread, charged to
// the entry like any of its work), every isolate ran that loop in 6-8 ms from
// its first call. Measured per call in fresh isolates, median of 4 isolates,
// default → these flags: counting loop 100 → 6 ms; SHA-256 of 1 MB in plain JS
// 16.5 → 15.9 ms (first call 29 → 25); 3 million small objects 12.0 → 10.8 ms;
// sorting 200,000 objects and building a 200,000-character string unchanged;
// a warm Hono request 79-92 → 70-73 µs; a cold start unchanged. Either flag
// alone is worse: `--no-concurrent-osr` with Maglev on took 0.9-1.5 s for the
// loop's first calls, and `--no-maglev` alone left half the isolates slow.
export const ISOLATE_V8_FLAGS: readonly string[] = ['--no-maglev', '--no-concurrent-osr'];
