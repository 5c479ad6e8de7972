// Builds the prelude: runtime/webapi/ bundled into one script that the
// snapshot evaluates. Built once per process (esbuild takes ~100 ms) and
// handed to isolate hosts as a string so that every host snapshots the same bytes.

import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./webapi/index.ts', import.meta.url));
const WARMUP = fileURLToPath(new URL('./webapi/snapshot-warmup.ts', import.meta.url));
// Package aliases resolve from esbuild's working directory: pin it to the
// project root so the node starts from any current directory.
const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface Prelude {
  code: string;
  /** Run while the snapshot is made, to compile the lazy parts into it (webapi/snapshot-warmup.ts). */
  warmup: string;
  /** sha256 of code and warm-up, for snapshot and code-cache keys. */
  hash: string;
}

let cached: Promise<Prelude> | undefined;

export function buildPrelude(): Promise<Prelude> {
  cached ??= (async () => {
    const bundle = async (entry: string, minify: boolean): Promise<string> => {
      const result = await build({
        entryPoints: [entry],
        absWorkingDir: ROOT,
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'neutral',
        target: 'es2023',
        minify,
        legalComments: 'none',
        mainFields: ['module', 'main'],
        conditions: ['worker', 'import', 'default'],
        logLevel: 'silent',
        alias: PRELUDE_ALIASES,
        plugins: [shadowGlobals, hostEncodingTables],
        // Every free reference to a built-in global is bound to its value at load (webapi/globals.ts says why).
        inject: [GLOBALS],
        define: INTRINSIC_CALLS,
      });
      const code = result.outputFiles[0]?.text;
      if (code === undefined) throw new Error(`esbuild produced nothing for ${entry}`);
      return code;
    };
    const [code, warmup] = await Promise.all([bundle(ENTRY, true), bundle(WARMUP, true)]);
    return { code, warmup, hash: createHash('sha256').update(code).update('\0').update(warmup).digest('hex') };
  })();
  return cached;
}

// Member-expression calls in the libraries, bound to functions of webapi/globals.ts that call the captured built-in.
const INTRINSIC_CALLS: Record<string, string> = {
  'String.fromCharCode.apply': '__edgefn_fromCharCodeApply',
  'Object.prototype.toString.call': '__edgefn_objectToStringCall',
  'Object.prototype.hasOwnProperty.call': '__edgefn_hasOwnPropertyCall',
  'Function.prototype.apply.call': '__edgefn_functionApplyCall',
};
const GLOBALS = fileURLToPath(new URL('./webapi/globals.ts', import.meta.url));
const WEBAPI = (file: string): string => fileURLToPath(new URL(`./webapi/${file}`, import.meta.url));

/** A change to a library's source, matched by shape (the library ships minified). */
interface SourcePatch {
  what: string;
  /** Must match exactly once (global flag, for the count). */
  find: RegExp;
  replace: string;
}

/**
 * Library modules whose global names are bound, in their module scope, to
 * exports of one of our in-isolate files (an import shadows the global), so
 * that a tenant's changes to the built-ins cannot reach inside them. Each
 * entry: the module's path, our file, and global name → export.
 */
const SHADOWS: ReadonlyArray<{ module: RegExp; from: string; names: Record<string, string>; patches?: readonly SourcePatch[] }> = [
  // webapi/streams-shadow.ts says why.
  {
    module: /web-streams-polyfill[\\/]dist[\\/]ponyfill\.mjs$/,
    from: WEBAPI('streams-shadow.ts'),
    names: { Promise: 'Promise', queueMicrotask: 'queueMicrotask', Object: 'Object_', Function: 'Function_' },
    patches: [
      {
        // Streams §4.9.1 ReadableStreamPipeTo: the pipe's read request writes
        // the chunk from a queued microtask. The library writes from the read
        // request's chunk steps, which enqueue() runs when the pipe is waiting,
        // so the sink's write() ran inside the source's enqueue() (WPT
        // streams/piping/general-addition "enqueue() must not synchronously
        // call write algorithm"; Node 24 queues the microtask the same way).
        // The write and the read's resolution stay together so the pipe loop
        // sees the backpressure of the write when it reads again. The pipe's
        // other read request (chunks already queued, read by the pipe loop
        // itself) writes at once: no enqueue() is on the stack there.
        what: "the pipe's waiting read request writes from a microtask",
        find: /_chunkSteps\((\w+)\)\{(this\._state\._currentWrite=[^{}]*?\(this\._state\._writer,\1\)[^{}]*?),this\._resolvePromise\(!1\)\}/g,
        replace: '_chunkSteps($1){queueMicrotask(()=>{$2,this._resolvePromise(!1)})}',
      },
    ],
  },
  // URLPattern canonicalizes through `new URL(…)`: whatwg-url's, never a tenant's replacement.
  { module: /urlpattern-polyfill[\\/]dist[\\/]urlpattern\.js$/, from: WEBAPI('url.ts'), names: { URL: 'LibraryURL' } },
];

const shadowGlobals: Plugin = {
  name: 'shadow-globals',
  setup(b) {
    for (const shadow of SHADOWS) {
      b.onLoad({ filter: shadow.module }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        for (const name of Object.keys(shadow.names)) {
          // An import binding and a top-level declaration of one name cannot coexist: fail loudly on a library upgrade that declares one.
          if (new RegExp(`(?:^|[;{}\\s])(?:const|let|var|function|class)\\s+${name}\\b`).test(source)) throw new Error(`${args.path} declares ${name}; revisit runtime/prelude.ts SHADOWS`);
        }
        let patched = source;
        for (const patch of shadow.patches ?? []) {
          // Minified names change between builds; the patterns match the shape. Fail loudly when an upgrade changes it.
          const hits = patched.match(patch.find)?.length ?? 0;
          if (hits !== 1) throw new Error(`${args.path}: the patch "${patch.what}" matched ${hits} times, not once; revisit runtime/prelude.ts SHADOWS`);
          patched = patched.replace(patch.find, patch.replace);
        }
        const bindings = Object.entries(shadow.names).map(([name, exported]) => (name === exported ? name : `${exported} as ${name}`));
        return { contents: `import { ${bindings.join(', ')} } from ${JSON.stringify(shadow.from)};\n${patched}`, loader: 'js', resolveDir: dirname(args.path) };
      });
    }
  },
};

/** Module substitutions for the in-isolate bundle (see docs/web-platform-libs.md). */
export const PRELUDE_ALIASES: Record<string, string> = {
  // tr46's UTS #46 tables cost ~2.9 MB per isolate; idna.ts keeps ASCII hosts
  // in the isolate and asks the host ('idna' callSync op) for the rest.
  tr46: fileURLToPath(new URL('./webapi/idna.ts', import.meta.url)),
};

/**
 * @exodus/bytes loads its legacy multi-byte tables (152 KB of JSON) through
 * one lazily required file; the in-isolate build takes them from the host on
 * first use instead (webapi/encoding-tables.ts), so the snapshot has the
 * decoders' code and no tables.
 */
const hostEncodingTables: Plugin = {
  name: 'host-encoding-tables',
  setup(b) {
    b.onResolve({ filter: /[\\/]multi-byte\.encodings\.cjs$/ }, () => ({ path: WEBAPI('encoding-tables.ts') }));
  },
};
