// The compiled lol-html module for HTMLRewriter (runtime/webapi/html-rewriter-wasm.ts).
//
// Compiled once per process, on the first request of any function that uses
// HTMLRewriter (~10-60 ms here, inside that request's entry but not charged
// to it: UNCHARGED_SYNC_OPS), never at start: a host none of whose functions
// rewrite HTML pays nothing. Returned
// as the WebAssembly.Module itself: isolated-vm copies a module into an
// isolate as V8's CompiledWasmModule, which shares the machine code instead
// of compiling again, so each isolate only instantiates it (its own memory).
//
// Compiled eagerly. V8 compiles a module's functions lazily by default, each
// on its first call, into the module's shared code: the first isolate in the
// process to rewrite a page then compiled the functions it ran, ~20 ms
// charged to its request (a node's first Shift_JIS rewrite measured 48-58 ms
// of CPU against a 50 ms budget; 30-35 ms compiled eagerly). Eager compiling
// takes ~50 ms instead of ~12, uncharged like the rest of this op. The flag is
// V8's, process-wide: it is set for this one compile and put back, so the
// modules tenants compile stay lazy.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { HostOpSync } from './types.ts';

// The project's host tsconfig has no DOM lib, where WebAssembly's types live.
interface WasmModuleCtor {
  new (bytes: Uint8Array): object;
}
const { Module } = (globalThis as unknown as { WebAssembly: { Module: WasmModuleCtor } }).WebAssembly;

let compiled: object | undefined;

export const htmlRewriterModule: HostOpSync = () => {
  if (compiled === undefined) {
    const bytes = readFileSync(createRequire(import.meta.url).resolve('html-rewriter-wasm/dist/html_rewriter_bg.wasm'));
    setFlagsFromString('--no-wasm-lazy-compilation');
    try {
      compiled = new Module(bytes);
    } finally {
      setFlagsFromString('--wasm-lazy-compilation');
    }
  }
  return compiled;
};
