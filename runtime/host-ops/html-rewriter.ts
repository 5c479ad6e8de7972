// The compiled lol-html module for HTMLRewriter (runtime/webapi/html-rewriter-wasm.ts).
//
// Compiled once per process, on the first request of any function that uses
// HTMLRewriter (~10-60 ms here, inside that request's entry but not charged
// to it: UNCHARGED_SYNC_OPS), never at start: a host none of whose functions
// rewrite HTML pays nothing. Returned
// as the WebAssembly.Module itself: isolated-vm copies a module into an
// isolate as V8's CompiledWasmModule, which shares the machine code instead
// of compiling again, so each isolate only instantiates it (its own memory).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { HostOpSync } from './types.ts';

// The project's host tsconfig has no DOM lib, where WebAssembly's types live.
interface WasmModuleCtor {
  new (bytes: Uint8Array): object;
}
const { Module } = (globalThis as unknown as { WebAssembly: { Module: WasmModuleCtor } }).WebAssembly;

let compiled: object | undefined;

export const htmlRewriterModule: HostOpSync = () => {
  compiled ??= new Module(readFileSync(createRequire(import.meta.url).resolve('html-rewriter-wasm/dist/html_rewriter_bg.wasm')));
  return compiled;
};
