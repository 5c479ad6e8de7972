// The host's side of the lazy platform modules (runtime/prelude.ts,
// LAZY_MODULES; runtime/webapi/lazy.ts is the isolate's side): compiles a
// module's script in the isolate whose worker first touched one of its
// globals, from a code cache made by the module's first compile in this
// process. Every isolate of a process starts from the same snapshot, so V8
// accepts the cache in all of them.

import type ivm from 'isolated-vm';

export class LazyModules {
  readonly #code: Readonly<Record<string, string>>;
  readonly #caches = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

  constructor(code: Readonly<Record<string, string>>) {
    this.#code = code;
  }

  /**
   * Evaluate module `name` in an isolate whose worker touched one of its
   * globals, from inside that isolate's 'lazy-module' host call: the script's
   * value, a function, goes back to the isolate through `receive` (the
   * lazyModule entry). Charged to the entry like the worker's own code (it
   * runs for that worker only).
   */
  load(isolate: ivm.Isolate, context: ivm.Context, receive: ivm.Reference<(...args: never[]) => unknown>, name: unknown): undefined {
    if (typeof name !== 'string') throw new TypeError('lazy-module: the module name must be a string');
    const script = this.#compile(isolate, name);
    let factory: ivm.Reference | undefined;
    try {
      factory = script.runSync(context, { reference: true }) as ivm.Reference;
      receive.applySync(undefined, [factory.derefInto()] as never[]);
    } finally {
      factory?.release();
      script.release();
    }
    return undefined;
  }

  #compile(isolate: ivm.Isolate, name: string): ivm.Script {
    const code = Object.hasOwn(this.#code, name) ? this.#code[name] : undefined;
    if (code === undefined) throw new TypeError(`no platform module named ${JSON.stringify(name)}`);
    const cached = this.#caches.get(name);
    const script = isolate.compileScriptSync(code, { filename: `edgefn:${name}.js`, ...(cached === undefined ? { produceCachedData: true } : { cachedData: cached }) }) as ivm.Script & ivm.CachedDataResult & { cachedDataRejected?: boolean };
    if ((cached === undefined || script.cachedDataRejected === true) && script.cachedData !== undefined) this.#caches.set(name, script.cachedData);
    return script;
  }
}
