// The runtime's public surface: router/ imports from here and nowhere else in runtime/.
export { Runtime, type RuntimeOptions, type RuntimeStats, type HostOp, type HostOpSync, type OpContext } from './runtime.ts';
export { EdgefnError, ERROR_CODES, type ErrorCode } from './errors.ts';
export { DEFAULT_LIMITS, parseLimits, resolveLimits, type Limits } from './limits.ts';
export { WORKER_FORMATS, functionKey, type FunctionSource, type WorkerFormat } from './function-source.ts';
export { prepareScript, MAX_SCRIPT_BYTES, type PreparedScript } from './worker-script.ts';
export { checkModuleSet, prepareModules, MODULE_TYPES, MAX_MODULES, type ModuleSet, type ModuleType, type WorkerModule } from './worker-modules.ts';
export { buildPrelude, type Prelude } from './prelude.ts';
export { REQUEST_WINDOW_BYTES, RESPONSE_WINDOW_BYTES, type RequestHandle, type ResponseSink, type RuntimeRequest, type SocketLimits, type Timing } from './request-types.ts';
export { FETCH_DEFAULTS, parseAllowList, type FetchOptions } from './host-ops/index.ts';
export { entryWatchBuffer, monotonicMs, onLongEntry } from './entry-watch.ts';
export { ISOLATE_V8_FLAGS } from './v8-flags.ts';
export { CACHE_DEFAULTS, type CacheOptions } from './host-ops/index.ts';
export { CacheStore } from './host-ops/cache-store.ts';
export { parseCompatibilityFlags, COMPATIBILITY_FLAGS, type CompatibilityFlag } from './node-compat/flags.ts';
