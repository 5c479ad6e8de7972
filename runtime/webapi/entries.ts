// The entry functions boot hands the host, by name: the one list that
// runtime/webapi/index.ts (which builds them) and runtime/prepared-isolate.ts
// (which binds them) both import, so neither side counts positions.
//
//  - install: bind the worker's fetch handler.
//  - dispatch: start a request.
//  - stageBody / deliverBody: move a batch of streamed request body in
//    (uncharged), then hand it to the worker's stream (charged); see dispatch.ts.
//  - cancel: the client went away or the wall limit struck.
//  - tick: a timer fired.
//  - settle: an async host operation finished.
//  - wasmMemory: bytes of every live WebAssembly.Memory (wasm.ts), which isolated-vm does not count.
//  - resumeResponse: the client caught up; carry on streaming the response.
//  - scheduled: run the worker's scheduled handler (a cron trigger fired).
//  - nodeCompat: before a nodejs_compat worker's script runs, hand its bundle
//    process.env and its host op (node-compat.ts).
//  - socketEvent: a message, close or error on an upgraded request's WebSocket (websocket.ts).
//  - lazyModule: a lazy platform module's function, compiled by the host during the
//    isolate's 'lazy-module' host call (lazy.ts).

export const ENTRY_NAMES = ['install', 'dispatch', 'stageBody', 'deliverBody', 'cancel', 'tick', 'settle', 'wasmMemory', 'resumeResponse', 'scheduled', 'nodeCompat', 'socketEvent', 'lazyModule'] as const;

export type EntryName = (typeof ENTRY_NAMES)[number];

/** The sync host call in which the host compiles a lazy module and hands it back through the lazyModule entry (lazy.ts, runtime/lazy-modules.ts). */
export const LAZY_MODULE_OP = 'lazy-module';
