// node:async_hooks: AsyncLocalStorage and AsyncResource.
//
// A bare V8 isolate gives JavaScript no hook into its promise machinery
// (Node and workerd use V8's C++ promise hooks / continuation data), so the
// context is carried by the code that registers continuations:
//  - Promise.prototype.then is wrapped so that each callback runs in the
//    context current when it was registered (catch and finally call then);
//  - setTimeout, setInterval and queueMicrotask bind their callback the same way;
//  - `await` would bypass `then` for native promises, so a worker whose bundle
//    contains this module is bundled with async functions and generators
//    lowered to generator code that awaits through `then`
//    (runtime/node-compat/bundle.ts). The lowering is done only for such
//    workers, and this module's wrapping is installed only when it loads.
// Limits: continuations the platform schedules itself (a ReadableStream's pull,
// an AbortSignal listener, a `fetch` handler's later events) run in the
// context current when the platform calls them, normally none; code not in
// the bundle (eval'd strings) awaits natively and loses the context.

/** One immutable frame: every storage's value in the current context; undefined: none set. */
type Frame = ReadonlyMap<AsyncLocalStorage<unknown>, unknown> | undefined;

let current: Frame;

// Any callable: the caller's own function, called with the arguments it was given.
function runInFrame<R>(frame: Frame, fn: Function, thisArg: unknown, args: unknown[]): R {
  const saved = current;
  current = frame;
  try {
    return Reflect.apply(fn, thisArg, args) as R;
  } finally {
    current = saved;
  }
}

/** `fn` bound to the context current now; itself when there is none (nothing to restore). */
function bindCurrent<F>(fn: F): F {
  const frame = current;
  if (frame === undefined || typeof fn !== 'function') return fn;
  const f = fn as Function;
  return function (this: unknown, ...args: unknown[]) {
    return runInFrame(frame, f, this, args);
  } as F;
}

function install(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const then = Promise.prototype.then;
  // A method, so that it is named `then` and has no prototype, as the original.
  const wrapped = {
    then(this: Promise<unknown>, onFulfilled?: unknown, onRejected?: unknown) {
      return Reflect.apply(then, this, [bindCurrent(onFulfilled), bindCurrent(onRejected)]);
    },
  }.then;
  Object.defineProperty(Promise.prototype, 'then', {
    value: wrapped,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  for (const name of ['setTimeout', 'setInterval']) {
    const original = g[name] as (fn: unknown, ms?: unknown, ...args: unknown[]) => unknown;
    g[name] = function (fn: unknown, ms?: unknown, ...args: unknown[]) {
      return Reflect.apply(original, globalThis, [bindCurrent(fn), ms, ...args]);
    };
  }
  const microtask = g['queueMicrotask'] as (fn: unknown) => void;
  g['queueMicrotask'] = function queueMicrotask(fn: unknown) {
    return Reflect.apply(microtask, globalThis, [bindCurrent(fn)]);
  };
}
install();

export class AsyncLocalStorage<T> {
  #enabled = true;

  getStore(): T | undefined {
    return this.#enabled ? (current?.get(this as AsyncLocalStorage<unknown>) as T | undefined) : undefined;
  }

  run<R, A extends unknown[]>(store: T, fn: (...args: A) => R, ...args: A): R {
    this.#enabled = true;
    const next = new Map(current);
    next.set(this as AsyncLocalStorage<unknown>, store);
    return runInFrame(next, fn, undefined, args);
  }

  exit<R, A extends unknown[]>(fn: (...args: A) => R, ...args: A): R {
    const next = new Map(current);
    next.delete(this as AsyncLocalStorage<unknown>);
    return runInFrame(next.size === 0 ? undefined : next, fn, undefined, args);
  }

  /** Sets the store for the rest of the current synchronous run and what it schedules. */
  enterWith(store: T): void {
    this.#enabled = true;
    const next = new Map(current);
    next.set(this as AsyncLocalStorage<unknown>, store);
    current = next;
  }

  disable(): void {
    this.#enabled = false;
  }

  static bind<F extends (...args: never[]) => unknown>(fn: F): F {
    const frame = current;
    return function (this: unknown, ...args: unknown[]) {
      return runInFrame(frame, fn, this, args);
    } as unknown as F;
  }

  static snapshot(): <R, A extends unknown[]>(fn: (...args: A) => R, ...args: A) => R {
    const frame = current;
    return (fn, ...args) => runInFrame(frame, fn, undefined, args);
  }
}

export class AsyncResource {
  readonly type: string;
  readonly #frame: Frame = current;

  constructor(type: string) {
    this.type = type;
  }

  runInAsyncScope<R>(fn: (...args: never[]) => R, thisArg?: unknown, ...args: unknown[]): R {
    return runInFrame(this.#frame, fn, thisArg, args);
  }

  bind<F extends (...args: never[]) => unknown>(fn: F, thisArg?: unknown): F {
    const resource = this;
    return function (this: unknown, ...args: unknown[]) {
      return resource.runInAsyncScope(fn, thisArg ?? this, ...args);
    } as unknown as F;
  }

  emitDestroy(): this {
    return this;
  }

  static bind<F extends (...args: never[]) => unknown>(fn: F, type = 'bound-anonymous-fn', thisArg?: unknown): F {
    return new AsyncResource(type).bind(fn, thisArg);
  }
}

export default { AsyncLocalStorage, AsyncResource };
