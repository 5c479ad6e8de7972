// Event, EventTarget and CustomEvent (DOM §2). Our own rather than
// event-target-shim: the shim fixes isTrusted to false, so the events the
// platform fires (AbortSignal's abort) could not be trusted as the DOM says,
// and it dispatches through WeakMap.prototype.get, Array.prototype methods
// and `.call`, all of which a tenant can replace. A worker has no node tree:
// an event's path is its target alone, so dispatch is the "at target" phase
// with capture listeners first (DOM §2.9, "inner invoke" in two passes).

import { defineGlobal } from './define.ts';
import { reportError } from './console.ts';
import { monotonicNow } from './clock.ts';
import { DOMException } from './dom-exception.ts';
import { apply, arrayPush, copyArray, defineProperty, SafeMap } from './intrinsics.ts';

const NONE = 0;
const AT_TARGET = 2;

/** What addEventListener's `signal` option needs from AbortSignal (set by abort.ts, which depends on this file). */
export interface SignalHooks {
  /** Whether `signal` is aborted; throws TypeError when it is not an AbortSignal. */
  aborted(signal: unknown): boolean;
  /** Run `remove` when `signal` aborts. */
  follow(signal: unknown, remove: () => void): void;
}
let signals: SignalHooks = {
  aborted() {
    throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type 'AbortSignal'.");
  },
  follow() {},
};
export function setSignalHooks(hooks: SignalHooks): void {
  signals = hooks;
}

function isTrustedGetter(this: Event): boolean {
  return trusted(this);
}

let trusted: (e: Event) => boolean;
/** An event the platform itself fires (DOM: isTrusted true). */
export let createTrustedEvent: (type: string, init?: EventInit) => Event;

/** Dispatch `event` at `target` without looking up anything a tenant can replace (dispatchEvent and `type` are public). */
export let dispatch: (target: EventTarget, event: Event) => boolean;
let isEvent: (value: unknown) => value is Event;
let listenersOf: (target: EventTarget, type: string) => Listener[] | undefined;

export class Event {
  static readonly NONE = 0;
  static readonly CAPTURING_PHASE = 1;
  static readonly AT_TARGET = 2;
  static readonly BUBBLING_PHASE = 3;

  #type: string;
  #bubbles: boolean;
  #cancelable: boolean;
  #composed: boolean;
  #trusted = false;
  #timeStamp: number;
  #target: EventTarget | null = null;
  #currentTarget: EventTarget | null = null;
  #phase = NONE;
  #dispatching = false;
  #stopPropagation = false;
  #stopImmediate = false;
  #canceled = false;
  #inPassiveListener = false;
  #initialized = true;

  constructor(type: string, init?: EventInit) {
    if (arguments.length === 0) throw new TypeError(`Failed to construct '${new.target.name}': 1 argument required, but only 0 present.`);
    this.#type = `${type}`;
    if (init !== undefined && init !== null && typeof init !== 'object' && typeof init !== 'function') {
      throw new TypeError(`Failed to construct '${new.target.name}': The provided value is not of type 'EventInit'.`);
    }
    this.#bubbles = Boolean(init?.bubbles);
    this.#cancelable = Boolean(init?.cancelable);
    this.#composed = Boolean(init?.composed);
    this.#timeStamp = now();
    // [LegacyUnforgeable]: an own accessor on every event, one getter for all.
    defineProperty(this, 'isTrusted', { get: isTrustedGetter, enumerable: true, configurable: false });
  }

  get type(): string {
    return this.#type;
  }
  get target(): EventTarget | null {
    return this.#target;
  }
  get srcElement(): EventTarget | null {
    return this.#target;
  }
  get currentTarget(): EventTarget | null {
    return this.#currentTarget;
  }
  composedPath(): EventTarget[] {
    return this.#currentTarget === null ? [] : [this.#currentTarget];
  }
  get eventPhase(): number {
    return this.#phase;
  }
  stopPropagation(): void {
    this.#stopPropagation = true;
  }
  get cancelBubble(): boolean {
    return this.#stopPropagation;
  }
  set cancelBubble(value: boolean) {
    if (value) this.#stopPropagation = true;
  }
  stopImmediatePropagation(): void {
    this.#stopPropagation = true;
    this.#stopImmediate = true;
  }
  get bubbles(): boolean {
    return this.#bubbles;
  }
  get cancelable(): boolean {
    return this.#cancelable;
  }
  get returnValue(): boolean {
    return !this.#canceled;
  }
  set returnValue(value: boolean) {
    if (!value) this.#cancel();
  }
  preventDefault(): void {
    this.#cancel();
  }
  #cancel(): void {
    if (this.#cancelable && !this.#inPassiveListener) this.#canceled = true;
  }
  get defaultPrevented(): boolean {
    return this.#canceled;
  }
  get composed(): boolean {
    return this.#composed;
  }
  get timeStamp(): number {
    return this.#timeStamp;
  }
  initEvent(type: string, bubbles = false, cancelable = false): void {
    if (arguments.length === 0) throw new TypeError("Failed to execute 'initEvent' on 'Event': 1 argument required, but only 0 present.");
    if (this.#dispatching) return;
    this.#initialized = true;
    this.#stopPropagation = false;
    this.#stopImmediate = false;
    this.#canceled = false;
    this.#trusted = false;
    this.#target = null;
    this.#type = `${type}`;
    this.#bubbles = Boolean(bubbles);
    this.#cancelable = Boolean(cancelable);
  }

  static {
    trusted = (e) => e.#trusted;
    createTrustedEvent = (type, init) => {
      const e = new Event(type, init);
      e.#trusted = true;
      return e;
    };
    isEvent = (value) => typeof value === 'object' && value !== null && #type in value;
    dispatch = (target, event) => {
      const listeners = listenersOf(target, event.#type);
      if (event.#dispatching || !event.#initialized) throw new DOMException("Failed to execute 'dispatchEvent' on 'EventTarget': The event is already being dispatched.", 'InvalidStateError');
      event.#dispatching = true;
      event.#target = target;
      event.#currentTarget = target;
      event.#phase = AT_TARGET;
      if (listeners !== undefined && !event.#stopPropagation) {
        // DOM "inner invoke" over a clone of the list: listeners added during
        // dispatch do not run, removed ones are skipped by their flag.
        const list = copyArray(listeners);
        for (let pass = 0; pass < 2 && !event.#stopImmediate; pass++) {
          const capture = pass === 0;
          for (let i = 0; i < list.length; i++) {
            const l = list[i] as Listener;
            if (l.removed || l.capture !== capture) continue;
            if (l.once) removeListener(listeners, l);
            event.#inPassiveListener = l.passive;
            try {
              const cb = l.callback;
              if (typeof cb === 'function') apply(cb, target, [event]);
              else {
                const handleEvent = (cb as EventListenerObject).handleEvent;
                if (typeof handleEvent !== 'function') throw new TypeError("The listener's handleEvent is not a function.");
                apply(handleEvent, cb, [event]);
              }
            } catch (err) {
              // A listener that throws must not stop dispatch (DOM: "report the exception").
              reportError(err);
            }
            event.#inPassiveListener = false;
            if (event.#stopImmediate) break;
          }
        }
      }
      event.#dispatching = false;
      event.#phase = NONE;
      event.#currentTarget = null;
      event.#stopPropagation = false;
      event.#stopImmediate = false;
      return !event.#canceled;
    };
  }
}
Object.defineProperty(Event.prototype, Symbol.toStringTag, { value: 'Event', configurable: true });

// Before boot (the snapshot's own code) there is no clock: 0.
function now(): number {
  return monotonicNow();
}

interface Listener {
  callback: EventListenerOrEventListenerObject;
  capture: boolean;
  once: boolean;
  passive: boolean;
  removed: boolean;
}


function removeListener(list: Listener[], l: Listener): void {
  l.removed = true;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === l) {
      for (let j = i; j < list.length - 1; j++) list[j] = list[j + 1] as Listener;
      list.length--;
      return;
    }
  }
}

function flattenOptions(options: unknown): { capture: boolean; once: boolean; passive: boolean; signal: unknown } {
  // A WebIDL dictionary is any object, functions included.
  if ((typeof options === 'object' && options !== null) || typeof options === 'function') {
    const o = options as AddEventListenerOptions;
    return { capture: Boolean(o.capture), once: Boolean(o.once), passive: Boolean(o.passive), signal: o.signal };
  }
  return { capture: Boolean(options), once: false, passive: false, signal: undefined };
}

export class EventTarget {
  #listeners = new SafeMap<string, Listener[]>();

  addEventListener(type: string, callback: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    if (arguments.length < 2) throw new TypeError(`Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required, but only ${arguments.length} present.`);
    const t = `${type}`;
    const { capture, once, passive, signal } = flattenOptions(options);
    // The options dictionary is converted (a signal that is not an AbortSignal,
    // null included, throws) before a null listener is ignored: WebIDL converts
    // every argument before the method's steps run.
    const aborted = signal !== undefined && signals.aborted(signal);
    if (callback === null || callback === undefined) return;
    if (typeof callback !== 'function' && typeof callback !== 'object') {
      throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': parameter 2 is not of type 'Object'.");
    }
    if (aborted) return;
    let list = this.#listeners.get(t);
    if (list === undefined) {
      list = [];
      this.#listeners.set(t, list);
    }
    for (let i = 0; i < list.length; i++) {
      const l = list[i] as Listener;
      if (l.callback === callback && l.capture === capture) return;
    }
    const listener: Listener = { callback, capture, once, passive, removed: false };
    arrayPush(list, listener);
    if (signal !== undefined) {
      const owner = list;
      signals.follow(signal, () => removeListener(owner, listener));
    }
  }

  removeEventListener(type: string, callback: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void {
    if (arguments.length < 2) throw new TypeError(`Failed to execute 'removeEventListener' on 'EventTarget': 2 arguments required, but only ${arguments.length} present.`);
    const list = this.#listeners.get(`${type}`);
    if (list === undefined) return;
    const capture = flattenOptions(options).capture;
    for (let i = 0; i < list.length; i++) {
      const l = list[i] as Listener;
      if (l.callback === callback && l.capture === capture) {
        removeListener(list, l);
        return;
      }
    }
  }

  dispatchEvent(event: Event): boolean {
    if (!isEvent(event)) throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    return dispatch(this, event);
  }

  static {
    listenersOf = (target, type) => target.#listeners.get(type);
  }
}
Object.defineProperty(EventTarget.prototype, Symbol.toStringTag, { value: 'EventTarget', configurable: true });

export class CustomEvent<T = unknown> extends Event {
  #detail: T | null;
  constructor(type: string, init?: CustomEventInit<T>) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'CustomEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#detail = init?.detail ?? null;
  }
  get detail(): T | null {
    return this.#detail;
  }
}
Object.defineProperty(CustomEvent.prototype, Symbol.toStringTag, { value: 'CustomEvent', configurable: true });

defineGlobal('Event', Event);
defineGlobal('EventTarget', EventTarget);
defineGlobal('CustomEvent', CustomEvent);
