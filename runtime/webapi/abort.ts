// AbortController and AbortSignal (DOM §3.1-3.2), written on EventTarget because
// the abort-controller package predates `reason`, `throwIfAborted`, `any` and
// `timeout` (docs/web-platform-libs.md).

import { Event, EventTarget } from './events.ts';
import { DOMException } from './dom-exception.ts';
import { defineGlobal } from './define.ts';

const CONSTRUCT = Symbol('AbortSignal');

type AbortAlgorithm = () => void;

/** Abort `s` with `reason` (an AbortError DOMException when undefined). */
export let signalAbort: (s: AbortSignal, reason?: unknown) => void;
/** A fresh signal, as AbortController makes. */
export let createSignal: () => AbortSignal;
/** AbortSignal.any without the argument checks. */
export let createDependentSignal: (signals: AbortSignal[]) => AbortSignal;
/** Run `algorithm` (before the abort event) when `s` aborts; returns a remover. */
export let addAbortAlgorithm: (s: AbortSignal, algorithm: AbortAlgorithm) => () => void;

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason: unknown = undefined;
  #onabort: ((this: AbortSignal, ev: Event) => unknown) | null = null;
  #onabortInstalled = false;
  #algorithms = new Set<AbortAlgorithm>();
  // Dependent signals (made by any()) are held weakly: a long-lived parent such
  // as a worker-global controller must not keep every request's signal alive.
  #dependents = new Set<WeakRef<AbortSignal>>();
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
      this.addEventListener('abort', (ev: Event) => {
        this.#onabort?.call(this, ev);
      });
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
      for (const ref of s.#dependents) {
        const d = ref.deref();
        if (d !== undefined && !d.#aborted) {
          d.#aborted = true;
          d.#reason = s.#reason;
          toRun.push(d);
        }
      }
      s.#dependents.clear();
      runAbortSteps(s);
      for (const d of toRun) runAbortSteps(d);
    };
    const runAbortSteps = (s: AbortSignal): void => {
      const algorithms = [...s.#algorithms];
      s.#algorithms.clear();
      for (const a of algorithms) a();
      s.dispatchEvent(new Event('abort'));
    };
    createDependentSignal = (signals) => {
      const result = new AbortSignal(CONSTRUCT);
      for (const s of signals) {
        if (s.#aborted) {
          result.#aborted = true;
          result.#reason = s.#reason;
          return result;
        }
      }
      result.#dependent = true;
      const ref = new WeakRef(result);
      for (const s of signals) {
        // Depend on the roots, never on another dependent signal: aborting a root
        // reaches every descendant in one step.
        const roots = s.#dependent ? s.#sources : [s];
        for (const root of roots) {
          if (!result.#sources.includes(root)) {
            result.#sources.push(root);
            root.#dependents.add(ref);
          }
        }
      }
      return result;
    };
    createSignal = () => new AbortSignal(CONSTRUCT);
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
