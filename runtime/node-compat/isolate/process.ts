// node:process, and the `process` global of a nodejs_compat worker. Like
// Workers' it is small: env (the worker's text bindings, as Workers fills it
// with nodejs_compat_populate_process_env, on by default since 2025-04-01),
// nextTick, and constant facts; there is no process-level state to expose.
// No `version`/`versions.node`: libraries read those to decide they run on
// Node and reach for modules that are not here.

import { bindings } from './host.ts';

/** Values written to process.env become strings, as in Node and Workers. */
const env: Record<string, string> = new Proxy(Object.assign(Object.create(null) as Record<string, string>, bindings), {
  set(target, key, value) {
    if (typeof key === 'symbol') return false;
    target[key] = String(value);
    return true;
  },
  defineProperty(target, key, desc) {
    if (typeof key === 'symbol' || !('value' in desc)) return false;
    target[key] = String(desc.value);
    return true;
  },
});

export function nextTick(fn: (...args: unknown[]) => void, ...args: unknown[]): void {
  queueMicrotask(() => fn(...args));
}

export function cwd(): string {
  return '/';
}

export function emitWarning(warning: unknown): void {
  console.warn(typeof warning === 'string' ? `Warning: ${warning}` : warning);
}

export const platform = 'linux';
export const argv: string[] = [];
export const execArgv: string[] = [];
export const browser = false;
export const features: Record<string, boolean> = {};
export { env };

const process = { env, nextTick, cwd, emitWarning, platform, argv, execArgv, browser, features };
export default process;
