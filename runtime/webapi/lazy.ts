// Globals whose code is not in the snapshot (runtime/prelude.ts, LAZY_MODULES).
// In their place the snapshot holds stand-ins: the first touch of any of a
// module's globals asks the host to evaluate the module in this isolate, and
// the module, as it loads, defines its globals for real.
//
// The module's script is compiled by the host while this isolate waits in
// the 'lazy-module' host call; its value (a function of the prelude's
// modules) comes back through the `lazyModule` entry, not through a global a
// worker could watch or pre-empt. The module is then run with `core`, which
// gives it the prelude's own module instances, so it shares this isolate's
// captured intrinsics, bridge and classes.

import { core } from 'edgefn:core-modules';
import { host } from './bridge.ts';
import { defineGlobal } from './define.ts';
import { LAZY_MODULE_OP } from './entries.ts';
import { apply, box, defineProperty, getOwnPropertyDescriptor } from './intrinsics.ts';
import { pristine } from './pristine.ts';

type Factory = (prelude: typeof core) => void;

let received: Factory | undefined;
const loaded: Record<string, true> = box({});
/** Each stand-in's getter, to tell a global still standing in from one defined since. */
const standIns: Record<string, () => unknown> = box({});
/** The globals each module defines, by module (lazyGlobals). */
const globalsOf: Record<string, readonly string[]> = box({});

/** Entry: the module's function, handed over by the host during `load`'s host call. */
export function lazyModule(factory: Factory): void {
  received = factory;
}

function take(): Factory | undefined {
  const factory = received;
  received = undefined;
  return factory;
}

/** What each loaded module handed the prelude (provide), by module. */
const provided: Record<string, object> = box({});

/**
 * Called by a lazy module as it loads: what the prelude's code asks it for
 * through `required` (a seam for code that reaches the module without a
 * global: the dispatcher binding a WebSocket, TextDecoder making a Shift_JIS
 * decoder, another lazy module).
 */
export function provide(module: string, value: object): void {
  provided[module] = value;
}

/** What lazy module `module` provides, loading it first if it has not loaded. */
export function required<T extends object>(module: string): T {
  if (provided[module] === undefined) load(module);
  const value = provided[module];
  if (value === undefined) throw new Error(`edgefn: the platform module "${module}" did not load`);
  return value as T;
}

/** What lazy module `module` provides if it has loaded, without loading it. */
export function providedIfLoaded<T extends object>(module: string): T | undefined {
  return provided[module] as T | undefined;
}

function load(module: string): void {
  if (loaded[module] === true) return;
  const names = globalsOf[module] ?? [];
  // A global of the module the worker has already replaced (assigned or
  // redefined) keeps the worker's value: the module defines all of them.
  // (Index loops: this runs after the worker's code, which may have replaced array iteration.)
  const keptNames: string[] = [];
  const kept: PropertyDescriptor[] = [];
  for (let i = 0; i < names.length; i++) {
    const d = getOwnPropertyDescriptor(globalThis, names[i]!);
    if (d !== undefined && d.get !== standIns[names[i]!]) {
      keptNames[keptNames.length] = names[i]!;
      kept[kept.length] = d;
    }
  }
  received = undefined;
  host().callSync(LAZY_MODULE_OP, module);
  const factory = take();
  if (typeof factory !== 'function') throw new Error(`edgefn: the platform module "${module}" did not load`);
  loaded[module] = true;
  // The module's body runs after the worker's code: with the built-ins put
  // back as the prelude found them (pristine.ts), like a lazy library's.
  pristine(() => factory(core));
  for (let i = 0; i < kept.length; i++) defineProperty(globalThis, keptNames[i]!, kept[i]!);
}

/** Stand-ins for `names`, the globals the lazy module `module` defines. */
export function lazyGlobals(module: string, names: readonly string[]): void {
  globalsOf[module] = names;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const get = (): unknown => {
      load(module);
      const d = getOwnPropertyDescriptor(globalThis, name);
      if (d === undefined) return undefined;
      if (d.get === get) throw new Error(`edgefn: the platform module "${module}" did not define ${name}`);
      return d.get !== undefined ? apply(d.get, globalThis, []) : d.value;
    };
    standIns[name] = get;
    defineProperty(globalThis, name, {
      configurable: true,
      enumerable: false,
      get,
      set(value: unknown) {
        defineGlobal(name, value);
      },
    });
  }
}
