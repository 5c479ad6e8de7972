// Turns what a user uploads into the script an isolate runs.
//
// ES modules are bundled by esbuild into one CommonJS-style script wrapped so
// that its completion value is the module's exports: a classic script compiles
// and runs in about half the time of a V8 module (docs/isolated-vm.md §2),
// and it takes V8's code cache the same way. Service-worker scripts run as they are.

import { build, type BuildOptions, type Message } from 'esbuild';
import { EdgefnError } from './errors.ts';
import type { WorkerFormat } from './function-source.ts';
import { needsAsyncLowering, nodeCompatOptions, withNodeRequire } from './node-compat/bundle.ts';
import { hasNodeCompat } from './node-compat/flags.ts';

/** Scripts larger than this are refused (10 MB). */
export const MAX_SCRIPT_BYTES = 10 * 1024 * 1024;

export interface PreparedScript {
  code: string;
  format: WorkerFormat;
}

function describe(messages: Message[]): string {
  return messages
    .slice(0, 5)
    .map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text))
    .join('\n');
}

/** `flags`: the deploy's compatibility flags (nodejs_compat changes the bundle: node-compat/bundle.ts). */
export async function prepareScript(source: string, format: WorkerFormat, filename = 'worker.js', flags: readonly string[] = []): Promise<PreparedScript> {
  const size = Buffer.byteLength(source);
  if (size > MAX_SCRIPT_BYTES) {
    throw new EdgefnError('ERR_INVALID_INPUT', `script is ${size} bytes; the limit is ${MAX_SCRIPT_BYTES} bytes (10 MB)`);
  }
  if (format === 'service-worker') {
    // Node's modules are imported, and a classic script imports nothing.
    if (hasNodeCompat(flags)) throw new EdgefnError('ERR_INVALID_INPUT', 'the "nodejs_compat" compatibility flag needs a module worker ("format": "module"): a service-worker script cannot import Node.js modules');
    return { code: source, format };
  }
  return bundleModule({ stdin: { contents: withNodeRequire(source, flags), loader: 'js', sourcefile: filename } }, flags);
}

/**
 * Bundle an ES module graph (from `stdin` or an entry point resolved by a
 * plugin) into the wrapped classic script a module-format worker runs as.
 * Bundling errors become ERR_SCRIPT_COMPILE with esbuild's file:line:column.
 */
export async function bundleModule(input: Pick<BuildOptions, 'stdin' | 'entryPoints' | 'plugins'>, flags: readonly string[] = []): Promise<PreparedScript> {
  let out: string;
  try {
    let result = await build(bundleOptions(input, flags, false));
    if (needsAsyncLowering(result.metafile)) result = await build(bundleOptions(input, flags, true));
    out = result.outputFiles[0]?.text ?? '';
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    throw new EdgefnError('ERR_SCRIPT_COMPILE', errors ? describe(errors) : String(err), { cause: err });
  }
  return { code: wrapBundle(out), format: 'module' };
}

function bundleOptions(input: Pick<BuildOptions, 'stdin' | 'entryPoints' | 'plugins'>, flags: readonly string[], lowerAsync: boolean): BuildOptions & { write: false } {
  const compat = nodeCompatOptions(flags, lowerAsync);
  return {
    ...input,
    ...compat,
    // The built-ins' resolver goes first: the module set's own resolver answers every import.
    plugins: [...(compat.plugins ?? []), ...(input.plugins ?? [])],
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'neutral',
    target: 'es2023',
    logLevel: 'silent',
    // Keep the user's code readable in stack traces.
    minify: false,
  };
}

/** esbuild's CommonJS output as a classic script whose completion value is the exports. */
function wrapBundle(out: string): string {
  // ES modules are strict; the wrapper keeps them so and keeps their top-level
  // bindings out of the global object, as module scope would.
  return `(function () {"use strict";var module = { exports: {} }, exports = module.exports;\n${out}\nreturn module.exports;\n})()`;
}
