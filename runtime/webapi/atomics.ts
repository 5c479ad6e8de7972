// Atomics.wait, made to throw as on a browser's main thread and in workerd.
// An isolate has one thread, so nothing could ever wake a wait without a
// timeout: it would park the host's thread for the rest of the request's wall
// limit. V8 has a switch for this (Isolate::SetAllowAtomicsWait) that
// isolated-vm does not expose, so the method is replaced at boot, before any
// tenant code runs. Atomics.waitAsync is left: it blocks nothing.

export function installAtomics(): void {
  const atomics = (globalThis as { Atomics?: object }).Atomics;
  if (atomics === undefined) return;
  Object.defineProperty(atomics, 'wait', {
    value: function wait(): never {
      throw new TypeError('Atomics.wait cannot be called in this context');
    },
    writable: true,
    enumerable: false,
    configurable: true,
  });
}
