// WebAssembly, with its memory counted against the function's memory budget.
//
// isolated-vm's memoryLimit does not see WebAssembly.Memory: its backing store
// lives outside the V8 heap and outside `externally_allocated_size`
// (docs/isolated-vm.md §5; re-measured: a 125 MB memory left
// externally_allocated_size at 78 bytes). So every Memory is tracked here, in
// a WeakRef list, and:
//  - the host asks for the total after every entry (`wasmMemoryBytes`, an
//    entry of a few µs) and adds it to heap + external usage (live-isolate.ts);
//  - JS `new Memory`, `grow()` and instantiation refuse eagerly (RangeError)
//    when wasm memory alone would pass the budget;
//  - growth by the wasm `memory.grow` instruction, which no JS wrapper sees,
//    is caught by the after-entry check, and inside one long entry by the
//    isolate host's `--wasm-max-mem-pages` (router/host-supervisor.ts), and
//    last by the supervisor's RSS cap on the whole host process.
//
// A Memory can only be counted if JS can reach it, so a module that defines a
// memory must export it (every common toolchain does: Rust, Emscripten,
// AssemblyScript, TinyGo). A shared memory made from JS (`new Memory({ shared:
// true })`, which is how WPT and libraries get a SharedArrayBuffer of wasm
// memory) is counted through SharedArrayBuffer's byteLength getter; a module
// that declares a shared memory is still refused at compile: one thread has
// no use for one, and its `memory.grow` would need the same count.
//
// Compiling from bytes at run time is allowed (workerd refuses it in some
// modes); bytes shipped in the bundle are the common case.
//
// Every intrinsic used below is captured at load, before tenant code exists:
// the tenant shares this realm and could otherwise patch WeakSet.prototype.add
// or the `buffer` getter to hide a memory from the count.
//
// Installed by boot, not at load: the context V8 builds the snapshot in has no
// WebAssembly global (snapshot creation failed with "WebAssembly is not
// defined"), while every context restored from it does.

import { host } from './bridge.ts';
import { sharedArrayBufferByteLength } from './intrinsics.ts';

const U8 = Uint8Array;
const WeakRefC = WeakRef;
const { apply, construct, defineProperty } = Reflect;
const objectValues = Object.values;
const numberIsFinite = Number.isFinite;

type Getter = (this: unknown) => unknown;
function getter(proto: object, name: string): Getter {
  const d = Object.getOwnPropertyDescriptor(proto, name);
  if (d?.get === undefined) throw new Error(`edgefn: no getter ${name}`);
  return d.get as Getter;
}
const arrayBufferByteLength = getter(ArrayBuffer.prototype, 'byteLength');
const TypedArrayProto = Object.getPrototypeOf(U8.prototype) as object;
const typedArrayBuffer = getter(TypedArrayProto, 'buffer');
const typedArrayOffset = getter(TypedArrayProto, 'byteOffset');
const typedArrayLength = getter(TypedArrayProto, 'byteLength');
const dataViewBuffer = getter(DataView.prototype, 'buffer');
const dataViewOffset = getter(DataView.prototype, 'byteOffset');
const dataViewLength = getter(DataView.prototype, 'byteLength');
const typedArraySet = (TypedArrayProto as { set: (this: Uint8Array, src: ArrayLike<number>) => void }).set;
const weakRefDeref = WeakRef.prototype.deref;
const weakSetHas = WeakSet.prototype.has;
const weakSetAdd = WeakSet.prototype.add;
const weakMapGet = WeakMap.prototype.get;
const weakMapSet = WeakMap.prototype.set;

const PAGE = 65536;
const MB = 1024 * 1024;

let budgetBytes = Number.POSITIVE_INFINITY;

// The native pieces, captured by installWasm() before any tenant code runs.
let NativeMemory: typeof WebAssembly.Memory;
let NativeModule: typeof WebAssembly.Module;
let NativeInstance: typeof WebAssembly.Instance;
let CompileError: typeof WebAssembly.CompileError;
let memoryBuffer: Getter;
let nativeGrow: (this: WebAssembly.Memory, delta: number) => number;
let instanceExports: Getter;
let moduleImports: typeof WebAssembly.Module.imports;
let Memory: typeof WebAssembly.Memory;
let Module: typeof WebAssembly.Module;
let Instance: typeof WebAssembly.Instance;

const tracked: WeakRef<WebAssembly.Memory>[] = [];
const seen = new WeakSet<WebAssembly.Memory>();

/** The byte size of `m`'s buffer, or undefined when `m` is not a WebAssembly.Memory. */
function memoryBytes(m: unknown): number | undefined {
  let buffer: unknown;
  try {
    buffer = apply(memoryBuffer, m, []);
  } catch {
    return undefined;
  }
  try {
    return apply(arrayBufferByteLength, buffer, []) as number;
  } catch {
    // A shared memory's buffer is a SharedArrayBuffer, which ArrayBuffer's getter rejects.
    try {
      return sharedArrayBufferByteLength(buffer);
    } catch {
      return undefined;
    }
  }
}

/**
 * Bytes of every live WebAssembly.Memory in this isolate: an entry the host
 * calls after each entry. Reading `buffer` after a wasm `memory.grow` sees the
 * new size, so growth inside wasm code is counted too.
 */
export function wasmMemoryBytes(): number {
  let total = 0;
  let kept = 0;
  for (let i = 0; i < tracked.length; i++) {
    const ref = tracked[i]!;
    const m = apply(weakRefDeref, ref, []) as WebAssembly.Memory | undefined;
    if (m === undefined) continue;
    tracked[kept++] = ref;
    total += memoryBytes(m) ?? 0;
  }
  tracked.length = kept;
  return total;
}

function overBudget(what: string, bytes: number): RangeError {
  return new RangeError(`${what}: WebAssembly memory would reach ${Math.ceil(bytes / MB)} MB, past this function's memory limit of ${Math.round(budgetBytes / MB)} MB`);
}

/** Count `m` from now on; throws RangeError if that puts wasm memory past the budget. */
function adopt(m: WebAssembly.Memory, what: string): void {
  if (apply(weakSetHas, seen, [m])) return;
  const size = memoryBytes(m) ?? 0;
  const total = wasmMemoryBytes() + size;
  if (total > budgetBytes) throw overBudget(what, total);
  apply(weakSetAdd, seen, [m]);
  // The first memory tells the host that this isolate now needs the
  // after-entry wasm check; isolates without wasm skip it on every request.
  if (tracked.length === 0) host().callSync('wasm-in-use', null);
  tracked[tracked.length] = new WeakRefC(m);
}

// ---- module inspection: which memories a module defines, and whether JS can reach them ----

interface ModuleInfo {
  /** Sum of the initial sizes of the memories the module defines, in bytes. */
  initialBytes: number;
}
const moduleInfo = new WeakMap<WebAssembly.Module, ModuleInfo>();

/** A private copy of a BufferSource, so the bytes parsed are the bytes compiled. */
function copyBytes(source: unknown, what: string): Uint8Array {
  let view: Uint8Array | undefined;
  try {
    view = new U8(source as ArrayBuffer, 0, apply(arrayBufferByteLength, source, []) as number);
  } catch {
    try {
      view = new U8(apply(typedArrayBuffer, source, []) as ArrayBuffer, apply(typedArrayOffset, source, []) as number, apply(typedArrayLength, source, []) as number);
    } catch {
      try {
        view = new U8(apply(dataViewBuffer, source, []) as ArrayBuffer, apply(dataViewOffset, source, []) as number, apply(dataViewLength, source, []) as number);
      } catch {
        throw new TypeError(`${what}: Argument 0 must be a buffer source`);
      }
    }
  }
  const out = new U8(view.length);
  apply(typedArraySet, out, [view]);
  return out;
}

class Reader {
  readonly #b: Uint8Array;
  pos: number;
  constructor(b: Uint8Array, pos: number) {
    this.#b = b;
    this.pos = pos;
  }
  byte(): number {
    const v = this.#b[this.pos++];
    if (v === undefined) throw new Error('unexpected end');
    return v;
  }
  /** Unsigned LEB128, up to 64 bits; exact below 2^53, which every size here is. */
  leb(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('LEB128 too long');
  }
}

/**
 * Reads the memory (5) and export (7) sections. Runs after V8 accepted the
 * module, so the bytes are well formed; what this cannot read is refused
 * rather than let through uncounted.
 */
function inspect(bytes: Uint8Array, importedMemories: number): ModuleInfo {
  const r = new Reader(bytes, 8);
  const defined: number[] = [];
  const exported = new Set<number>();
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.leb();
    const end = r.pos + size;
    if (id === 5) {
      for (let n = r.leb(); n > 0; n--) {
        const flags = r.byte();
        if ((flags & 0x02) !== 0) throw new CompileError('edgefn: shared WebAssembly memory is not supported');
        const initial = r.leb();
        if ((flags & 0x01) !== 0) r.leb();
        // Custom page sizes (a proposal): the page size follows as log2.
        const pageSize = (flags & 0x08) !== 0 ? 2 ** r.leb() : PAGE;
        defined.push(initial * pageSize);
      }
    } else if (id === 7) {
      for (let n = r.leb(); n > 0; n--) {
        const nameLength = r.leb(); // `r.pos += r.leb()` would read pos before leb() moves it
        r.pos += nameLength;
        const kind = r.byte();
        const index = r.leb();
        if (kind === 2) exported.add(index);
      }
    }
    r.pos = end;
  }
  let initialBytes = 0;
  for (let i = 0; i < defined.length; i++) {
    if (!exported.has(importedMemories + i)) {
      throw new CompileError(`edgefn: this WebAssembly module defines memory ${importedMemories + i} without exporting it; export it (e.g. as "memory") so edgefn can count it against the function's memory limit`);
    }
    initialBytes += defined[i]!;
  }
  return { initialBytes };
}

function compileSync(source: unknown, newTarget: Function): WebAssembly.Module {
  const bytes = copyBytes(source, 'WebAssembly.Module()');
  const mod = construct(NativeModule as Function, [bytes], newTarget) as WebAssembly.Module;
  let imported = 0;
  const imports = apply(moduleImports, NativeModule, [mod]) as WebAssembly.ModuleImportDescriptor[];
  for (let i = 0; i < imports.length; i++) if (imports[i]!.kind === 'memory') imported++;
  let info: ModuleInfo;
  try {
    info = inspect(bytes, imported);
  } catch (err) {
    if (err instanceof CompileError) throw err;
    throw new CompileError(`edgefn: cannot read this WebAssembly module's memories (${err instanceof Error ? err.message : String(err)}); it is refused so that no memory goes uncounted`);
  }
  apply(weakMapSet, moduleInfo, [mod, info]);
  return mod;
}

function instantiateSync(mod: WebAssembly.Module, imports: unknown, newTarget: Function): WebAssembly.Instance {
  const info = apply(weakMapGet, moduleInfo, [mod]) as ModuleInfo | undefined;
  // Every Module comes from compileSync (the native constructor and compile
  // functions are replaced before tenant code runs), so this is a non-Module.
  if (info === undefined) throw new TypeError('WebAssembly.Instance(): Argument 0 must be a WebAssembly.Module');
  const before = wasmMemoryBytes() + info.initialBytes;
  if (before > budgetBytes) throw overBudget('WebAssembly.Instance()', before);
  const instance = construct(NativeInstance as Function, imports === undefined ? [mod] : [mod, imports], newTarget) as WebAssembly.Instance;
  const values = objectValues(apply(instanceExports, instance, []) as object);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (memoryBytes(v) !== undefined) adopt(v as WebAssembly.Memory, 'WebAssembly.Instance()');
  }
  return instance;
}

function isModule(v: unknown): v is WebAssembly.Module {
  return typeof v === 'object' && v !== null && apply(weakMapGet, moduleInfo, [v]) !== undefined;
}

/**
 * Instantiate a module the platform supplies itself (HTMLRewriter's lol-html,
 * html-rewriter-wasm.ts), with its memories counted against the function's
 * budget like a tenant's: the host hands over the compiled module, so it
 * never passed through compileSync and its exported memory is adopted here.
 * Returns the instance's exports.
 */
export function instantiatePlatformModule(mod: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Exports {
  const instance = construct(NativeInstance as Function, [mod, imports]) as WebAssembly.Instance;
  // Through the getter captured at boot: the shared one is a worker's to redefine.
  const exports = apply(instanceExports, instance, []) as WebAssembly.Exports;
  const values = objectValues(exports);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (memoryBytes(v) !== undefined) adopt(v as WebAssembly.Memory, 'HTMLRewriter');
  }
  return exports;
}

/** `memory.buffer` through the getter captured at boot (a tenant may redefine the shared one). */
export function platformMemoryBuffer(m: WebAssembly.Memory): ArrayBuffer {
  return apply(memoryBuffer, m, []) as ArrayBuffer;
}

// ---- the replacements ----

const methods = {
  grow(this: WebAssembly.Memory, delta: unknown): number {
    // Convert once and pass the primitive on, so a valueOf cannot report one
    // size to this check and another to V8.
    const d = typeof delta === 'bigint' ? delta : +(delta as number);
    const pages = Number(d);
    if (numberIsFinite(pages) && pages > 0 && apply(weakSetHas, seen, [this])) {
      const total = wasmMemoryBytes() + pages * PAGE;
      if (total > budgetBytes) throw overBudget('WebAssembly.Memory.grow()', total);
    }
    return apply(nativeGrow, this, [d]) as number;
  },
  // Native WebAssembly.compile/instantiate finish on a V8 background task that
  // never completes inside isolated-vm (measured: the promise stays pending),
  // so they compile synchronously inside the caller's entry, under its CPU
  // budget, and resolve in the same microtask drain.
  async compile(bytes: unknown): Promise<WebAssembly.Module> {
    return compileSync(bytes, Module);
  },
  async instantiate(source: unknown, imports?: unknown): Promise<unknown> {
    if (isModule(source)) return instantiateSync(source, imports, Instance);
    const module = compileSync(source, Module);
    return { module, instance: instantiateSync(module, imports, Instance) };
  },
};

/**
 * Replace WebAssembly's constructors and compile functions with counting
 * ones; `budget` is the isolate's memory limit in bytes. Called once by boot.
 */
export function installWasm(budget: number): void {
  budgetBytes = budget;
  const WA = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
  if (WA === undefined) return;
  NativeMemory = WA.Memory;
  NativeModule = WA.Module;
  NativeInstance = WA.Instance;
  CompileError = WA.CompileError;
  memoryBuffer = getter(NativeMemory.prototype, 'buffer');
  nativeGrow = NativeMemory.prototype.grow;
  instanceExports = getter(NativeInstance.prototype, 'exports');
  moduleImports = NativeModule.imports;

  // Proxies keep `instanceof`, `prototype`, names and subclassing of the native
  // constructors, and change only what constructing does.
  Memory = new Proxy(NativeMemory, {
    construct(target, args, newTarget) {
      const m = construct(target, args, newTarget) as WebAssembly.Memory;
      // Checked after construction, on the real buffer: the descriptor is
      // tenant-controlled and may answer differently on each read.
      if (memoryBytes(m) === undefined) throw new TypeError('edgefn: WebAssembly.Memory() made no countable memory');
      adopt(m, 'WebAssembly.Memory()');
      return m;
    },
  });

  Module = new Proxy(NativeModule, {
    construct(_target, args, newTarget) {
      return compileSync(args[0], newTarget);
    },
  });

  Instance = new Proxy(NativeInstance, {
    construct(_target, args, newTarget) {
      return instantiateSync(args[0] as WebAssembly.Module, args[1], newTarget);
    },
  });

  // `WebAssembly.Memory.prototype.constructor` would hand out the native
  // constructor, which makes untracked memories.
  for (const [native, proxy] of [
    [NativeMemory, Memory],
    [NativeModule, Module],
    [NativeInstance, Instance],
  ] as const) {
    defineProperty(native.prototype, 'constructor', { value: proxy, writable: true, configurable: true, enumerable: false });
  }
  defineProperty(NativeMemory.prototype, 'grow', { value: methods.grow, writable: true, configurable: true, enumerable: false });
  for (const [name, value] of [
    ['Memory', Memory],
    ['Module', Module],
    ['Instance', Instance],
    ['compile', methods.compile],
    ['instantiate', methods.instantiate],
  ] as const) {
    defineProperty(WA, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
