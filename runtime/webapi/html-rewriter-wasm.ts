// lol-html inside the isolate: the WebAssembly build html-rewriter-wasm 0.4.1
// ships (the one miniflare 2 ran), driven by a port of that package's
// JavaScript half (wasm-bindgen glue and asyncify driver) to the platform's
// rules. The package's own glue cannot be bundled as is: it reads the .wasm
// with `fs`, keeps one instance for the whole process, and calls built-ins a
// tenant can replace (`Array.prototype.push`, `Function.prototype.call`,
// `bind`, TextDecoder's `decode`).
//
// Where the module comes from: the host compiles the bytes once per process
// and hands the compiled module over ('html-rewriter.module' sync op,
// runtime/host-ops/html-rewriter.ts); isolated-vm copies a WebAssembly.Module
// between isolates as V8's CompiledWasmModule, so the machine code is shared
// and never compiled into an isolate or into the snapshot. Each isolate makes
// its own instance (its own linear memory, counted against the function's
// memory budget by wasm.ts) on first use.
//
// One instance per live rewriter, never shared between two at once. Asyncify
// suspends a rewriter by unwinding its wasm frames and saving their locals,
// but not the shadow stack those frames hold in linear memory: a second
// rewriter running on the same instance while the first is suspended would
// reuse that stack and corrupt it. So a rewriter owns its instance until it is
// freed; a finished instance goes back to a pool of one, and concurrent
// rewriters in one isolate each get (and pay for) an instance of their own.
// An instance through whose frames an exception passed (a throwing handler, a
// rewriter abandoned mid-suspension) is discarded rather than reused: its
// shadow stack pointer and Rust's borrow flags are left as the exception
// found them.

import { utf8toString } from '@exodus/bytes/utf8.js';
import { host } from './bridge.ts';
import { utf8Encode } from './encoding.ts';
import { apply, arrayValues, defineProperty, PromiseCtor, promiseThen, rejectedWith, resolvedWith, SafeMap, typedArrayByteLength, typedArraySet, Uint8ArrayCtor } from './intrinsics.ts';
import { instantiatePlatformModule, platformMemoryBuffer } from './wasm.ts';

type WasmFn = (...args: number[]) => number;
type Exports = Record<string, WasmFn> & { memory: WebAssembly.Memory };

// Binaryen's asyncify states (src/passes/Asyncify.cpp).
const UNWINDING = 1;
const REWINDING = 2;

/** Handlers for Element, Comment, TextChunk… objects: the classes are defined in html-rewriter.ts and registered here. */
export interface TokenFactory {
  element(inst: Instance, ptr: number): object;
  endTag(inst: Instance, ptr: number): object;
  comment(inst: Instance, ptr: number): object;
  textChunk(inst: Instance, ptr: number): object;
  doctype(inst: Instance, ptr: number): object;
  documentEnd(inst: Instance, ptr: number): object;
  /** Invalidate a token after its handler: its Box in linear memory is freed (wasm-bindgen would otherwise leak ~40 bytes per token). */
  release(token: unknown): void;
  /**
   * A handler's result `ret` for `token`, followed by the content the
   * handler gave as streams (html-rewriter.ts): a promise that settles once
   * that content is in, when there may be any; `ret` itself otherwise.
   */
  settle(token: unknown, ret: unknown): unknown;
}

let tokens: TokenFactory | undefined;
export function registerTokens(t: TokenFactory): void {
  tokens = t;
}

/** One lol-html instance: exports, wasm-bindgen's object table, and the asyncify promise of its (single) rewriter. */
export interface Instance {
  readonly x: Exports;
  /** Set when an exception crossed its frames: it must not be reused. */
  broken: boolean;
  /** Length of what passString/passBytes copied last. */
  len: number;
  add(obj: unknown): number;
  take(idx: number): unknown;
  u8(): Uint8Array;
  passString(s: string): number;
  passBytes(bytes: Uint8Array): number;
  retString(call: (retptr: number) => void): string;
  /** An object lent for the length of one call; pair with `unborrow`. */
  borrow(obj: unknown): number;
  unborrow(): void;
  /** Run an export that may suspend on a handler's promise, rewinding into it until it returns. */
  drive(stackPtr: number, run: () => void): Promise<void>;
  resetStack(): void;
}

/** lol-html's HTMLRewriter on one instance: handlers registered before the first write. */
export interface WasmRewriter {
  readonly inst: Instance;
  /** Throws lol-html's TypeError for a selector it cannot parse. */
  on(selector: string, handlers: object): void;
  onDocument(handlers: object): void;
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<void>;
  /** Free the rewriter; safe only when no write or end of it is running or suspended. */
  free(): void;
}

interface Classes {
  Instance: new (mod: WebAssembly.Module) => Instance;
  WasmRewriter: new (inst: Instance, sink: (chunk: Uint8Array) => void) => WasmRewriter;
}
let classes: Classes | undefined;

/**
 * The classes are defined on first use, not when the prelude loads: a class
 * made at load is an object graph (constructor, prototype, a function per
 * method) in every isolate's heap, used or not.
 */
function defineClasses(): Classes {
  if (classes !== undefined) return classes;
  /** One lol-html instance: exports, wasm-bindgen's object table, and the asyncify promise of its (single) rewriter. */
  class InstanceImpl implements Instance {
    readonly x: Exports;
    /** Set when an exception crossed its frames: it must not be reused. */
    broken = false;
    /** The shadow stack pointer when idle, put back before reuse. */
    readonly #stackBase: number;
    readonly #heap: unknown[] = [];
    #heapNext: number;
    #stackPointer = 32;
    #u8: Uint8Array | null = null;
    #i32: Int32Array | null = null;
    readonly #pending = new SafeMap<number, Promise<unknown>>();

    constructor(mod: WebAssembly.Module) {
      for (let i = 0; i < 32; i++) this.#heap[i] = undefined;
      this.#heap[32] = undefined;
      this.#heap[33] = null;
      this.#heap[34] = true;
      this.#heap[35] = false;
      this.#heapNext = 36;
      this.x = instantiatePlatformModule(mod, { __wbindgen_placeholder__: this.#imports() }) as Exports;
      this.#stackBase = this.x.__wbindgen_add_to_stack_pointer!(0);
    }

    // ---- wasm-bindgen's object table ----

    get(idx: number): unknown {
      return this.#heap[idx];
    }
    add(obj: unknown): number {
      if (this.#heapNext === this.#heap.length) this.#heap[this.#heap.length] = this.#heap.length + 1;
      const idx = this.#heapNext;
      this.#heapNext = this.#heap[idx] as number;
      this.#heap[idx] = obj;
      return idx;
    }
    take(idx: number): unknown {
      const v = this.#heap[idx];
      if (idx >= 36) {
        this.#heap[idx] = this.#heapNext;
        this.#heapNext = idx;
      }
      return v;
    }
    /** An object lent for the length of one call (wasm-bindgen's borrowed stack); pair with `unborrow`. */
    borrow(obj: unknown): number {
      if (this.#stackPointer === 1) throw new Error('out of js stack');
      this.#heap[--this.#stackPointer] = obj;
      return this.#stackPointer;
    }
    unborrow(): void {
      this.#heap[this.#stackPointer++] = undefined;
    }
    optional(obj: unknown): number {
      return obj === undefined || obj === null ? 0 : this.add(obj);
    }

    // ---- memory ----

    u8(): Uint8Array {
      const buffer = platformMemoryBuffer(this.x.memory);
      // A grown memory has a new buffer and the old views are detached (length 0).
      if (this.#u8 === null || typedArrayByteLength(this.#u8) === 0) this.#u8 = new Uint8ArrayCtor(buffer);
      return this.#u8;
    }
    i32(): Int32Array {
      const buffer = platformMemoryBuffer(this.x.memory);
      if (this.#i32 === null || typedArrayByteLength(this.#i32) === 0) this.#i32 = new Int32Array(buffer);
      return this.#i32;
    }
    str(ptr: number, len: number): string {
      return utf8toString(new Uint8ArrayCtor(platformMemoryBuffer(this.x.memory), ptr, len));
    }
    /** Length of what passString/passBytes copied last (wasm-bindgen's WASM_VECTOR_LEN; no array to destructure, whose iterator a worker can replace). */
    len = 0;
    /** Copy `s` (UTF-8) into linear memory; returns the pointer, the length is `len`. */
    passString(s: string): number {
      return this.passBytes(utf8Encode(s));
    }
    passBytes(bytes: Uint8Array): number {
      const len = typedArrayByteLength(bytes);
      const ptr = this.x.__wbindgen_malloc!(len);
      typedArraySet(this.u8(), bytes, ptr);
      this.len = len;
      return ptr;
    }
    /** A string an export writes as (ptr, len) through a return slot on the shadow stack; frees it. */
    retString(call: (retptr: number) => void): string {
      const x = this.x;
      const retptr = x.__wbindgen_add_to_stack_pointer!(-16);
      try {
        call(retptr);
        const i32 = this.i32();
        const ptr = i32[retptr / 4]!;
        const len = i32[retptr / 4 + 1]!;
        const s = this.str(ptr, len);
        x.__wbindgen_free!(ptr, len);
        return s;
      } finally {
        x.__wbindgen_add_to_stack_pointer!(16);
      }
    }

    /** Back to the idle shadow stack: only between rewriters, when no frame of this instance is live or suspended. */
    resetStack(): void {
      const x = this.x;
      x.__wbindgen_add_to_stack_pointer!(this.#stackBase - x.__wbindgen_add_to_stack_pointer!(0));
    }

    // ---- asyncify ----

    /**
     * Run an export that may suspend on a handler's promise (write, end), then
     * rewind into it each time the promise fulfils, until it returns. Rejects
     * with a handler's error (the instance is then broken).
     */
    drive(stackPtr: number, run: () => void): Promise<void> {
      try {
        run();
      } catch (err) {
        this.broken = true;
        return rejectedWith(err);
      }
      return this.#afterRun(stackPtr, run);
    }

    #afterRun(stackPtr: number, run: () => void): Promise<void> {
      const x = this.x;
      if (x.asyncify_get_state!() !== UNWINDING) return resolvedWith(undefined);
      x.asyncify_stop_unwind!();
      const p = this.#pending.get(stackPtr) as Promise<unknown>;
      this.#pending.delete(stackPtr);
      return promiseThen(
        p,
        () => {
          x.asyncify_start_rewind!(stackPtr);
          try {
            run();
          } catch (err) {
            this.broken = true;
            throw err;
          }
          return this.#afterRun(stackPtr, run);
        },
        (err: unknown) => {
          // The suspended frames are never resumed.
          this.broken = true;
          throw err;
        },
      );
    }

    #awaitPromise(stackPtr: number, idx: number): void {
      const x = this.x;
      if (x.asyncify_get_state!() === REWINDING) {
        x.asyncify_stop_rewind!();
        return;
      }
      // The asyncify data region: [start, end) after its 8-byte header, 1 KB in all.
      const i32 = this.i32();
      i32[stackPtr / 4] = stackPtr + 8;
      i32[stackPtr / 4 + 1] = stackPtr + 1024;
      x.asyncify_start_unwind!(stackPtr);
      this.#pending.set(stackPtr, this.get(idx) as Promise<unknown>);
    }

    /** A handler's result: a thenable becomes a platform promise (which Rust then awaits), with the token released when it settles. */
    #call(fnIdx: number, thisIdx: number, argIdx: number): number {
      const arg = this.get(argIdx);
      const t = tokens as TokenFactory;
      let ret: unknown;
      try {
        ret = t.settle(arg, apply(this.get(fnIdx) as (a: unknown) => unknown, this.get(thisIdx), [arg]));
      } catch (err) {
        t.release(arg);
        throw err;
      }
      if (typeof ret === 'object' && ret !== null && typeof (ret as { then?: unknown }).then === 'function') {
        // Adopted through its own `then`, as `await` would: the tenant's value, the tenant's then.
        const sealed = new PromiseCtor<unknown>((resolve) => resolve(ret));
        const release = (): void => t.release(arg);
        promiseThen(sealed, release, release);
        return this.add(sealed);
      }
      t.release(arg);
      return this.add(ret);
    }

    #imports(): Record<string, (...args: never[]) => unknown> {
      const t = (): TokenFactory => tokens as TokenFactory;
      const flag = (v: unknown): number => (v === undefined || v === null ? 0xffffff : v ? 1 : 0);
      const member = (obj: unknown, name: string): number => this.optional((obj as Record<string, unknown>)[name]);
      const writeString = (retptr: number, s: string): void => {
        const ptr = this.passString(s);
        const len = this.len;
        const i32 = this.i32();
        i32[retptr / 4 + 1] = len;
        i32[retptr / 4] = ptr;
      };
      return {
        __wbindgen_object_drop_ref: (i: number) => void this.take(i),
        __wbg_html_cd9a0f328493678b: (i: number) => flag((this.get(i) as { html?: unknown }).html),
        __wbindgen_string_new: (ptr: number, len: number) => this.add(this.str(ptr, len)),
        __wbg_documentend_new: (ptr: number) => this.add(t().documentEnd(this, ptr)),
        __wbg_awaitPromise_39a1101fd8518869: (stackPtr: number, i: number) => this.#awaitPromise(stackPtr, i),
        __wbindgen_object_clone_ref: (i: number) => this.add(this.get(i)),
        // Element content handlers' members (on()), then document handlers' (onDocument()).
        __wbg_element_c38470ed972aea27: (i: number) => member(this.get(i), 'element'),
        __wbg_comments_ba86bc03331d9378: (i: number) => member(this.get(i), 'comments'),
        __wbg_text_7800bf26cb443911: (i: number) => member(this.get(i), 'text'),
        __wbg_doctype_ac58c0964a59b61b: (i: number) => member(this.get(i), 'doctype'),
        __wbg_comments_94d876f6c0502e82: (i: number) => member(this.get(i), 'comments'),
        __wbg_text_4606a16c30e4ae91: (i: number) => member(this.get(i), 'text'),
        __wbg_end_34efb9402eac8a4e: (i: number) => member(this.get(i), 'end'),
        __wbg_element_new: (ptr: number) => this.add(t().element(this, ptr)),
        __wbg_comment_new: (ptr: number) => this.add(t().comment(this, ptr)),
        __wbg_textchunk_new: (ptr: number) => this.add(t().textChunk(this, ptr)),
        __wbg_doctype_new: (ptr: number) => this.add(t().doctype(this, ptr)),
        __wbg_endtag_new: (ptr: number) => this.add(t().endTag(this, ptr)),
        __wbg_enableEsiTags_de6b91cc61a25874: (i: number) => flag((this.get(i) as { enableEsiTags?: unknown }).enableEsiTags),
        __wbg_String_60c4ba333b5ca1c6: (retptr: number, i: number) => writeString(retptr, String(this.get(i))),
        __wbg_new_4fee7e2900033464: () => this.add([]),
        __wbg_push_ba9b5e3c25cff8f9: (arr: number, v: number) => {
          const a = this.get(arr) as unknown[];
          a[a.length] = this.get(v);
          return a.length;
        },
        __wbg_call_6c4ea719458624eb: (fn: number, self: number, arg: number) => {
          try {
            return this.#call(fn, self, arg);
          } catch (err) {
            this.x.__wbindgen_exn_store!(this.add(err));
            return 0;
          }
        },
        __wbg_new_917809a3e20a4b00: (ptr: number, len: number) => this.add(new TypeError(this.str(ptr, len))),
        __wbg_instanceof_Promise_c6535fc791fcc4d2: (i: number) => this.get(i) instanceof PromiseCtor,
        __wbg_buffer_89a8560ab6a3d9c6: (i: number) => this.add(platformMemoryBuffer(this.get(i) as WebAssembly.Memory)),
        __wbg_newwithbyteoffsetandlength_e45d8b33c02dc3b5: (buf: number, offset: number, length: number) => this.add(new Uint8ArrayCtor(this.get(buf) as ArrayBuffer, offset >>> 0, length >>> 0)),
        // Copies the view it is given (the output chunk leaves linear memory here).
        __wbg_new_bd2e1d010adb8a1a: (i: number) => this.add(new Uint8ArrayCtor(this.get(i) as Uint8Array)),
        __wbindgen_debug_string: (retptr: number, i: number) => {
          const v = this.get(i);
          writeString(retptr, typeof v === 'string' ? `"${v}"` : typeof v === 'object' || typeof v === 'function' ? `[${typeof v}]` : String(v));
        },
        __wbindgen_throw: (ptr: number, len: number) => {
          throw new Error(this.str(ptr, len));
        },
        __wbindgen_rethrow: (i: number) => {
          throw this.take(i);
        },
        __wbindgen_memory: () => this.add(this.x.memory),
      };
    }
  }

  /** lol-html's HTMLRewriter on one instance: handlers registered before the first write. */
  class WasmRewriterImpl implements WasmRewriter {
    readonly inst: Instance;
    #ptr: number;
    #stackPtr: number;

    constructor(inst: Instance, sink: (chunk: Uint8Array) => void) {
      this.inst = inst;
      const b = inst.borrow(sink);
      try {
        this.#ptr = inst.x.htmlrewriter_new!(b, 0);
      } finally {
        inst.unborrow();
      }
      this.#stackPtr = inst.x.htmlrewriter_asyncify_stack_ptr!(this.#ptr);
    }

    /** Throws lol-html's TypeError for a selector it cannot parse (the instance stays usable: nothing ran yet). */
    on(selector: string, handlers: object): void {
      const ptr = this.inst.passString(selector);
      const len = this.inst.len;
      this.inst.x.htmlrewriter_on!(this.#ptr, ptr, len, this.inst.add(handlers));
    }

    onDocument(handlers: object): void {
      this.inst.x.htmlrewriter_onDocument!(this.#ptr, this.inst.add(handlers));
    }

    write(chunk: Uint8Array): Promise<void> {
      const inst = this.inst;
      const ptr = inst.passBytes(chunk);
      const len = inst.len;
      const rw = this.#ptr;
      // Asyncify rewinds by calling the export again with the same arguments.
      return inst.drive(this.#stackPtr, () => void inst.x.htmlrewriter_write!(rw, ptr, len));
    }

    end(): Promise<void> {
      const rw = this.#ptr;
      return this.inst.drive(this.#stackPtr, () => void this.inst.x.htmlrewriter_end!(rw));
    }

    /** Free the rewriter; safe only when no write or end of it is running or suspended. */
    free(): void {
      const ptr = this.#ptr;
      if (ptr === 0) return;
      this.#ptr = 0;
      try {
        this.inst.x.__wbg_htmlrewriter_free!(ptr);
      } catch {
        this.inst.broken = true;
      }
    }
  }
  classes = { Instance: InstanceImpl, WasmRewriter: WasmRewriterImpl };
  return classes;
}

export function newRewriter(inst: Instance, sink: (chunk: Uint8Array) => void): WasmRewriter {
  return new (defineClasses().WasmRewriter)(inst, sink);
}


// ---- instances ----

let compiled: WebAssembly.Module | undefined;
/** At most one idle instance is kept: its 1.3 MB memory stays counted against the function while it waits. */
let idle: Instance | undefined;

/** An instance for one rewriter (or selector check) to own; give it back with `releaseInstance`. */
export function acquireInstance(): Instance {
  if (idle !== undefined) {
    const inst = idle;
    idle = undefined;
    return inst;
  }
  compiled ??= host().callSync('html-rewriter.module', null) as WebAssembly.Module;
  return new (defineClasses().Instance)(compiled);
}

/**
 * An instance whose memory grew past this is not kept: linear memory never
 * shrinks, and an idle instance's memory stays counted against the function
 * (a dropped one stops counting once the GC has collected it).
 */
const IDLE_MAX_BYTES = 4 * 1024 * 1024;

export function releaseInstance(inst: Instance): void {
  if (inst.broken || idle !== undefined) return;
  if (typedArrayByteLength(inst.u8()) > IDLE_MAX_BYTES) return;
  inst.resetStack();
  idle = inst;
}


/** The iterator `Element.attributes` returns, over the [name, value] pairs lol-html built. */
export function attributesIterator(pairs: [string, string][]): ArrayIterator<[string, string]> {
  return arrayValues(pairs);
}

/** Content options as lol-html reads them (`html`), or 0 for none. */
export function contentOptions(inst: Instance, options: unknown): number {
  if (options === undefined || options === null) return 0;
  if (typeof options !== 'object') throw new TypeError('The content options must be an object, e.g. { html: true }');
  // A private record: lol-html reads `html` through an import, and the
  // tenant's object could answer differently on each read.
  const record = { html: Boolean((options as { html?: unknown }).html) };
  defineProperty(record, 'html', { writable: false });
  return inst.add(record);
}
