// AbortController and AbortSignal (DOM §3.1-3.2), written on EventTarget because
// the abort-controller package predates `reason`, `throwIfAborted`, `any` and
// `timeout` (docs/web-platform-libs.md).

import { createTrustedEvent, dispatch, EventTarget, setSignalHooks, type Event } from './events.ts';
import { DOMException } from './dom-exception.ts';
import { defineGlobal } from './define.ts';
import { apply, arrayIndexOf, SafeSet, setValues, uncurryThis } from './intrinsics.ts';

const derefWeak = uncurryThis(WeakRef.prototype.deref) as <T extends WeakKey>(ref: WeakRef<T>) => T | undefined;
const addListener = uncurryThis(EventTarget.prototype.addEventListener);

const CONSTRUCT = Symbol('AbortSignal');

type AbortAlgorithm = () => void;

/** Abort `s` with `reason` (an AbortError DOMException when undefined). */
export let signalAbort: (s: AbortSignal, reason?: unknown) => void;
/** A fresh signal, as AbortController makes. */
export let createSignal: () => AbortSignal;
/** AbortSignal.any without the argument checks. */
export let createDependentSignal: (signals: AbortSignal[]) => AbortSignal;
/** The signal's state, read from its private fields (the getters are a tenant's to redefine). */
export let signalAborted: (s: AbortSignal) => boolean;
export let signalReason: (s: AbortSignal) => unknown;
/** Run `algorithm` (before the abort event) when `s` aborts; returns a remover. */
export let addAbortAlgorithm: (s: AbortSignal, algorithm: AbortAlgorithm) => () => void;

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason: unknown = undefined;
  #onabort: ((this: AbortSignal, ev: Event) => unknown) | null = null;
  #onabortInstalled = false;
  #algorithms = new SafeSet<AbortAlgorithm>();
  // Dependent signals (made by any()) are held weakly: a long-lived parent such
  // as a worker-global controller must not keep every request's signal alive.
  #dependents = new SafeSet<WeakRef<AbortSignal>>();
  #dependent = false;
  #sources: AbortSignal[] = [];

  constructor(token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor');
    super();
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  get onabort(): ((this: AbortSignal, ev: Event) => unknown) | null {
    return this.#onabort;
  }

  set onabort(fn: ((this: AbortSignal, ev: Event) => unknown) | null) {
    this.#onabort = typeof fn === 'function' ? fn : null;
    // An event handler is one listener, registered when first set (HTML §8.1.8.1).
    if (!this.#onabortInstalled && this.#onabort !== null) {
      this.#onabortInstalled = true;
      addListener(this, 'abort', ((ev: Event) => {
        const handler = this.#onabort;
        if (handler !== null) apply(handler, this, [ev]);
      }) as unknown as EventListener);
    }
  }

  static abort(reason?: unknown): AbortSignal {
    const s = new AbortSignal(CONSTRUCT);
    s.#aborted = true;
    s.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    return s;
  }

  static timeout(ms: number): AbortSignal {
    // WebIDL [EnforceRange] unsigned long long.
    const n = Number(ms);
    if (!Number.isFinite(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) {
      throw new TypeError(`AbortSignal.timeout: ${String(ms)} is outside the range of unsigned long long`);
    }
    const s = new AbortSignal(CONSTRUCT);
    setTimeout(() => signalAbort(s, new DOMException('The operation timed out', 'TimeoutError')), Math.trunc(n));
    return s;
  }

  static any(signals: Iterable<AbortSignal>): AbortSignal {
    return createDependentSignal(Array.from(signals, (s) => {
      if (!(s instanceof AbortSignal)) throw new TypeError("AbortSignal.any: argument 1 contains something that is not an AbortSignal");
      return s;
    }));
  }

  static {
    signalAbort = (s, reason) => {
      if (s.#aborted) return;
      s.#aborted = true;
      s.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
      // Spec order: mark every dependent aborted first, then run steps, so a
      // listener on the parent already sees the children aborted.
      const toRun: AbortSignal[] = [];
      const dependents = setValues(s.#dependents);
      for (let i = 0; i < dependents.length; i++) {
        const d = derefWeak(dependents[i] as WeakRef<AbortSignal>);
        if (d !== undefined && !d.#aborted) {
          d.#aborted = true;
          d.#reason = s.#reason;
          toRun[toRun.length] = d;
        }
      }
      s.#dependents.clear();
      runAbortSteps(s);
      for (let i = 0; i < toRun.length; i++) runAbortSteps(toRun[i] as AbortSignal);
    };
    const runAbortSteps = (s: AbortSignal): void => {
      const algorithms = setValues(s.#algorithms);
      s.#algorithms.clear();
      for (let i = 0; i < algorithms.length; i++) (algorithms[i] as AbortAlgorithm)();
      dispatch(s, createTrustedEvent('abort'));
    };
    createDependentSignal = (signals) => {
      const result = new AbortSignal(CONSTRUCT);
      for (let i = 0; i < signals.length; i++) {
        const s = signals[i] as AbortSignal;
        if (s.#aborted) {
          result.#aborted = true;
          result.#reason = s.#reason;
          return result;
        }
      }
      result.#dependent = true;
      const ref = new WeakRef(result);
      for (let i = 0; i < signals.length; i++) {
        const s = signals[i] as AbortSignal;
        // Depend on the roots, never on another dependent signal: aborting a root
        // reaches every descendant in one step.
        const roots = s.#dependent ? s.#sources : [s];
        for (let j = 0; j < roots.length; j++) {
          const root = roots[j] as AbortSignal;
          if (arrayIndexOf(result.#sources, root) < 0) {
            result.#sources[result.#sources.length] = root;
            root.#dependents.add(ref);
          }
        }
      }
      return result;
    };
    createSignal = () => new AbortSignal(CONSTRUCT);
    signalAborted = (s) => s.#aborted;
    signalReason = (s) => s.#reason;
    setSignalHooks({
      aborted(signal) {
        if (typeof signal !== 'object' || signal === null || !(#aborted in signal)) {
          throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type 'AbortSignal'.");
        }
        return (signal as AbortSignal).#aborted;
      },
      follow(signal, remove) {
        addAbortAlgorithm(signal as AbortSignal, remove);
      },
    });
    addAbortAlgorithm = (s, algorithm) => {
      if (s.#aborted) return () => {};
      s.#algorithms.add(algorithm);
      return () => s.#algorithms.delete(algorithm);
    };
  }
}
Object.defineProperty(AbortSignal.prototype, Symbol.toStringTag, { value: 'AbortSignal', configurable: true });


export class AbortController {
  #signal = createSignal();

  get signal(): AbortSignal {
    return this.#signal;
  }

  abort(reason?: unknown): void {
    signalAbort(this.#signal, reason);
  }
}
Object.defineProperty(AbortController.prototype, Symbol.toStringTag, { value: 'AbortController', configurable: true });

defineGlobal('AbortSignal', AbortSignal);
defineGlobal('AbortController', AbortController);
