// The prelude: evaluated once into the V8 snapshot, so every isolate starts
// with the Web platform already built. Boot runs once per context, when the
// pool prepares an isolate, and hands the host the entry functions it calls.

import './apis.ts';
import './timers.ts';
import './console.ts';
import { getCurrentRequest, setHost, settleCall, type HostBridge } from './bridge.ts';
import { cancel, deliverBody, dispatch, install, resumeResponse, scheduled, stageBody, warmDispatch } from './dispatch.ts';
import type { EntryName } from './entries.ts';
import { tick } from './timers.ts';
import { runWarmers } from './define.ts';
import { installWasm, wasmMemoryBytes } from './wasm.ts';
import { captureBootIntrinsics } from './intrinsics.ts';
import { socketEvent } from './websocket-seam.ts';
import { installAtomics } from './atomics.ts';
import { nodeCompat } from './node-compat.ts';
import { lazyModule } from './lazy.ts';

type Fn<A extends unknown[], R> = (...args: A) => R;

function boot(
  /** The host's log callback also takes the request whose entry wrote the line (0: none): it runs after the entry returns, when the host no longer knows. */
  log: Fn<[level: string, message: string, request: number], void>,
  now: HostBridge['now'],
  random: HostBridge['random'],
  timer: HostBridge['timer'],
  clearTimer: HostBridge['clearTimer'],
  emit: HostBridge['emit'],
  call: HostBridge['call'],
  callSync: HostBridge['callSync'],
  memoryBytes: number,
): Record<EntryName, Fn<never[], unknown>> {
  // Remove ourselves first: boot must run exactly once and tenants must not see it.
  delete (globalThis as { __edgefn_boot?: unknown }).__edgefn_boot;
  captureBootIntrinsics();
  // SharedArrayBuffer and Atomics stay, as in workerd: a high-resolution
  // timer built on them needs a second thread counting in shared memory, and
  // an isolate has one thread and no Worker or postMessage to share a buffer
  // with (Atomics.wait throws, as there is nothing to wake it: atomics.ts).
  // WebAssembly stays too: wasm.ts counts its memory.
  installAtomics();
  installWasm(memoryBytes);
  // A response must not leave while wasm memory alone is past the budget (a
  // wasm `memory.grow` loop no JS wrapper saw): the host's check after this
  // entry kills the isolate and answers 503 memory-limit, which it can only do
  // before the head has gone out.
  const guardedEmit: HostBridge['emit'] = (requestId, kind, a, b, c) => {
    if ((kind === 'head' || kind === 'whole' || kind === 'chunk') && wasmMemoryBytes() > memoryBytes) return undefined;
    return emit(requestId, kind, a, b, c);
  };
  setHost({ log: (level, message) => log(level, message, getCurrentRequest()), now, random, timer, clearTimer, emit: guardedEmit, call, callSync });
  runWarmers();
  warmDispatch();
  const entries: Record<EntryName, Fn<never[], unknown>> = {
    install,
    dispatch,
    stageBody,
    deliverBody,
    cancel,
    tick,
    settle: settleCall,
    wasmMemory: wasmMemoryBytes,
    resumeResponse,
    scheduled,
    nodeCompat,
    socketEvent,
    lazyModule,
  };
  return entries;
}

Object.defineProperty(globalThis, '__edgefn_boot', { value: boot, configurable: true, writable: false, enumerable: false });
