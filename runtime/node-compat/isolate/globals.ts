// Injected first into a nodejs_compat worker's bundle: the globals Workers
// adds with the flag, `Buffer` and `process` (nodejs_compat with a
// compatibility date from 2024-09-23 on). They are ordinary writable globals.
import { Buffer } from './buffer.ts';
import process from './process.ts';

for (const [name, value] of [['Buffer', Buffer], ['process', process]] as const) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}
