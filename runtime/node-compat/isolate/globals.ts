// Injected first into a nodejs_compat worker's bundle: the globals Workers
// adds with the flag, `Buffer` and `process` (nodejs_compat with a
// compatibility date from 2024-09-23 on), as ordinary writable globals.
//
// Each is made on first use: evaluating the buffer port at start-up cost a
// worker that never touches Buffer ~6 ms of its cold start (bench/node-compat.ts).
// The platform's hand-over (host.ts) is taken now, whatever is used later,
// so that it never lingers on the global scope.
import './host.ts';

function lazyGlobal(name: string, load: () => unknown): void {
  const settle = (value: unknown): void => {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  };
  Object.defineProperty(globalThis, name, {
    get() {
      const value = load();
      settle(value);
      return value;
    },
    set: settle,
    configurable: true,
    enumerable: false,
  });
}

// `require` of our own files is resolved by esbuild into a lazy initialiser (see libraries.d.ts).
lazyGlobal('Buffer', () => (require('./buffer.ts') as typeof import('./buffer.ts')).Buffer);
lazyGlobal('process', () => (require('./process.ts') as typeof import('./process.ts')).default);
