// Builds the prelude: runtime/webapi/ bundled into one script that the
// snapshot evaluates, and the lazy modules beside it. Built once per process
// (or read from the build cache below) and handed to isolate hosts as
// strings so that every host snapshots the same bytes.

import { build, version as esbuildVersion, type Metafile, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
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
  /**
   * The platform modules left out of the snapshot (LAZY_MODULES), by name:
   * each a script whose value is a function of the prelude's modules, which
   * an isolate evaluates the first time a worker touches one of its globals.
   */
  lazy: Record<string, string>;
  /** sha256 of code, warm-up and lazy modules, for snapshot and code-cache keys. */
  hash: string;
}

/**
 * Parts of the platform that few workers use, kept out of the snapshot: every
 * isolate pays heap for the snapshot's code whether it runs it or not
 * (measured, these cost 159 KB of used heap in each isolate), while a lazy
 * module costs only the isolates whose worker touches it (1.7–2.2 ms on that
 * first touch, charged to the request; docs/web-platform-libs.md). Each is a file of
 * runtime/webapi/ that defines its globals as it loads; webapi/lazy.ts puts
 * stand-ins for those globals in the snapshot (listed in webapi/apis.ts), and
 * its imports of the prelude's own files are the prelude's instances, never
 * copies (an isolate has one set of captured intrinsics, one bridge).
 */
export const LAZY_MODULES: Record<string, string> = {
  'html-rewriter': 'html-rewriter.ts',
  eventsource: 'eventsource.ts',
  cache: 'cache.ts',
  urlpattern: 'urlpattern.ts',
  'multi-byte': 'multi-byte.ts',
  websocket: 'websocket.ts',
  'message-events': 'message-events.ts',
  kv: 'kv.ts',
  compression: 'compression.ts',
};

let cached: Promise<Prelude> | undefined;

export function buildPrelude(): Promise<Prelude> {
  cached ??= (async () => {
    if (process.env['EDGEFN_PRELUDE_CACHE'] === '0') return (await buildFresh()).prelude;
    const file = await cacheFile();
    const kept = await readBuildCache(file);
    if (kept !== undefined) return kept;
    const { prelude, inputs } = await buildFresh();
    await writeBuildCache(file, prelude, inputs);
    return prelude;
  })();
  return cached;
}

/**
 * The build takes 0.8–1 s of CPU (eleven esbuild runs), paid by every node
 * and test process that starts. It is kept in node_modules/.cache/edgefn
 * with the list of files it read and a hash of their contents, and used
 * again only when every one of them is unchanged (and this file, esbuild and
 * the list of lazy modules too: they are in the cache's name).
 * EDGEFN_PRELUDE_CACHE=0 builds every time.
 */
const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/edgefn/', import.meta.url));

async function cacheFile(): Promise<string> {
  const self = await readFile(fileURLToPath(import.meta.url), 'utf8');
  const key = createHash('sha256').update(self).update(`\0${esbuildVersion}\0${JSON.stringify(LAZY_MODULES)}`).digest('hex').slice(0, 32);
  return join(CACHE_DIR, `prelude-${key}.json`);
}

async function inputsHash(inputs: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const input of inputs) hash.update(`${input}\0`).update(await readFile(resolve(ROOT, input))).update('\0');
  return hash.digest('hex');
}

/** The prelude kept in `file`, if every file it was built from is as it was then. */
export async function readBuildCache(file: string): Promise<Prelude | undefined> {
  try {
    const kept = JSON.parse(await readFile(file, 'utf8')) as { inputs: string[]; inputsHash: string; prelude: Prelude };
    return (await inputsHash(kept.inputs)) === kept.inputsHash ? kept.prelude : undefined;
  } catch {
    return undefined; // none yet, unreadable, or a file it lists is gone
  }
}

/** Keep `prelude`, built from `inputs` (paths from the project root, or absolute), in `file`. */
export async function writeBuildCache(file: string, prelude: Prelude, inputs: readonly string[]): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ inputs, inputsHash: await inputsHash(inputs), prelude }));
    await rename(tmp, file);
  } catch {
    // A read-only install builds every time.
  }
}

async function buildFresh(): Promise<{ prelude: Prelude; inputs: string[] }> {
  const read = new Set<string>();
  const bundle = async (entry: string, plugins: Plugin[] = []): Promise<{ code: string; metafile: Metafile }> => {
    const result = await build({
      entryPoints: [entry],
      absWorkingDir: ROOT,
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'neutral',
      target: 'es2023',
      minify: true,
      legalComments: 'none',
      mainFields: ['module', 'main'],
      conditions: ['worker', 'import', 'default'],
      logLevel: 'silent',
      metafile: true,
      alias: PRELUDE_ALIASES,
      plugins: [...plugins, shadowGlobals, hostEncodingTables],
      // Every free reference to a built-in global is bound to its value at load (webapi/globals.ts says why).
      inject: [GLOBALS],
      define: INTRINSIC_CALLS,
    });
    const code = result.outputFiles[0]?.text;
    if (code === undefined) throw new Error(`esbuild produced nothing for ${entry}`);
    for (const input of Object.keys(result.metafile.inputs)) if (!input.includes(':')) read.add(input);
    return { code, metafile: result.metafile };
  };
  // Which files the prelude is made of; then each lazy module, built once
  // to find what it imports of those files and again importing exactly
  // that from the prelude; then the prelude with a registry of it.
  const probe = await bundle(ENTRY, [coreRegistry(new Map())]);
  const core = new Set(Object.keys(probe.metafile.inputs).map((i) => resolve(ROOT, i)));
  /** Per file of the prelude a lazy module imports: its key for core() and the names imported. */
  const shared: Shared = new Map([[GLOBALS, { key: coreKey(GLOBALS), names: new Set(await exportNames(GLOBALS)) }]]);
  const modules = Object.entries(LAZY_MODULES);
  for (const [name, file] of modules) {
    if (core.has(WEBAPI(file))) throw new Error(`runtime/webapi/${file} is a lazy module (LAZY_MODULES), yet the prelude imports it: ${name} would be in every isolate's snapshot`);
  }
  const firsts = await Promise.all(modules.map(([, file]) => bundle(WEBAPI(file), [fromCore(core, undefined)])));
  for (const first of firsts) await importedFromCore(first.metafile, shared);
  const built = await Promise.all(modules.map(([, file]) => bundle(WEBAPI(file), [fromCore(core, shared)])));
  const lazy: Record<string, string> = Object.fromEntries(modules.map(([name], i) => [name, `(function (${CORE_PARAM}) {\n${built[i]!.code}})`]));
  const [{ code }, { code: warmup }] = await Promise.all([bundle(ENTRY, [coreRegistry(shared)]), bundle(WARMUP)]);
  const hash = createHash('sha256').update(code).update('\0').update(warmup);
  for (const name of Object.keys(lazy).sort()) hash.update(`\0${name}\0`).update(lazy[name]!);
  return { prelude: { code, warmup, lazy, hash: hash.digest('hex') }, inputs: [...read].sort() };
}

/** The lazy module's parameter that holds the prelude's modules (webapi/lazy.ts passes it). */
const CORE_PARAM = '__edgefn_core';
const CORE_REGISTRY = 'edgefn:core-modules';

/**
 * In the prelude: the module `edgefn:core-modules` (webapi/lazy.ts imports it),
 * whose `core(file)` gives, for each file a lazy module imports (by path
 * from the project root), the values it imports from it, and nothing else: a namespace
 * import would keep every export of those files and make a getter for each,
 * heap in every isolate.
 */
function coreRegistry(shared: Shared): Plugin {
  return {
    name: 'core-registry',
    setup(b) {
      b.onResolve({ filter: /^edgefn:core-modules$/ }, () => ({ path: CORE_REGISTRY, namespace: 'edgefn-registry' }));
      b.onLoad({ filter: /.*/, namespace: 'edgefn-registry' }, () => {
        const files = [...shared];
        const imports = files.map(([abs, { names }], i) => `import { ${[...names].map((n) => `${n} as m${i}_${n}`).join(', ')} } from ${JSON.stringify(abs)};`);
        // A function, not an object: its objects are made when a lazy module
        // loads, not held in every isolate's heap (an object of these ~250
        // values cost each isolate 36 KB).
        const cases = files.map(([, { key, names }], i) => `case ${JSON.stringify(key)}: return { __proto__: null, ${[...names].map((n) => `${n}: m${i}_${n}`).join(', ')} };`);
        return { contents: `${imports.join('\n')}\nexport function core(key) { switch (key) { ${cases.join(' ')} } }`, loader: 'js', resolveDir: ROOT };
      });
    },
  };
}

/**
 * In a lazy module: an import of a file the prelude has (`core`) becomes a
 * module that re-exports the prelude's values, from CORE_PARAM, of the names
 * `shared` lists (undefined: a first build, to learn which files are
 * imported, with modules that allow any name). The injected globals file is
 * one of them: the lazy module sees the built-ins as captured when the
 * prelude loaded, not as the worker may have left them.
 */
function fromCore(core: ReadonlySet<string>, shared: Shared | undefined): Plugin {
  return {
    name: 'from-core',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'from-core' || (args.kind === 'entry-point' && args.path !== GLOBALS)) return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'from-core' });
        if (r.errors.length > 0 || !core.has(r.path)) return undefined;
        return { path: r.path, namespace: 'edgefn-core' };
      });
      b.onLoad({ filter: /.*/, namespace: 'edgefn-core' }, (args) => {
        if (shared === undefined) return { contents: 'module.exports = {};', loader: 'js' };
        const names = [...(shared.get(args.path)?.names ?? [])];
        const lines = [`const m = ${CORE_PARAM}(${JSON.stringify(coreKey(args.path))});`];
        if (names.length > 0) lines.push(`export const ${names.map((n) => `${n} = m.${n}`).join(', ')};`);
        return { contents: lines.join('\n'), loader: 'js', resolveDir: ROOT };
      });
    },
  };
}

type Shared = Map<string, { key: string; names: Set<string> }>;

function coreKey(abs: string): string {
  return relative(ROOT, abs).split(sep).join('/');
}

/**
 * Add to `shared` what a lazy module's own files import from the prelude's
 * files, read from their import statements (our TypeScript: named imports
 * only). A name that is only a type is left out by checking it against the
 * file's runtime exports.
 */
async function importedFromCore(meta: Metafile, shared: Shared): Promise<void> {
  for (const [input, info] of Object.entries(meta.inputs)) {
    if (input.includes(':')) continue;
    const fromCoreFiles = info.imports.filter((i) => i.path.startsWith('edgefn-core:'));
    if (fromCoreFiles.length === 0) continue;
    // A library's shadow import (SHADOWS) is added at load, not in its file.
    const shadow = SHADOWS.find((s) => s.module.test(input));
    const source = `${await readFile(resolve(ROOT, input), 'utf8')}${shadow === undefined ? '' : `\nimport { ${Object.values(shadow.names).join(', ')} } from ${JSON.stringify(shadow.from)};`}`;
    for (const imp of fromCoreFiles) {
      const abs = imp.path.slice('edgefn-core:'.length);
      // TypeScript's imports may name types; a JavaScript file's names are all values.
      const exported = abs.endsWith('.ts') ? new Set(await exportNames(abs)) : undefined;
      const entry = shared.get(abs) ?? { key: coreKey(abs), names: new Set<string>() };
      shared.set(abs, entry);
      let found = false;
      for (const m of source.matchAll(/(?:import|export)\s+(type\s+)?\{([^}]*)\}\s*from\s*(['"])([^'"]+)\3/g)) {
        if (m[4] !== imp.original) continue;
        found = true;
        if (m[1] !== undefined) continue;
        for (const part of m[2]!.split(',')) {
          const spec = part.trim();
          if (spec === '' || spec.startsWith('type ')) continue;
          const imported = spec.split(/\s+as\s+/)[0]!;
          if (imported === 'default') throw new Error(`${input} imports the default export of ${imp.original} from the prelude; lazy modules import names`);
          if (exported === undefined || exported.has(imported)) entry.names.add(imported);
        }
      }
      // A bare `import '…'` of a prelude file needs nothing from it: the prelude ran it.
      if (source.includes(`import ${JSON.stringify(imp.original)}`) || source.includes(`import '${imp.original}'`)) found = true;
      if (!found) throw new Error(`${input} imports ${imp.original} from the prelude other than by named imports; a lazy module's imports of the prelude must be \`import { … } from\``);
    }
  }
}

/** The values (not types) a module of ours exports by name. */
function exportNames(file: string): Promise<string[]> {
  let names = exported.get(file);
  if (names === undefined) exported.set(file, (names = readExportNames(file)));
  return names;
}

const exported = new Map<string, Promise<string[]>>();

async function readExportNames(file: string): Promise<string[]> {
  const r = await build({ entryPoints: [file], absWorkingDir: ROOT, bundle: false, write: false, format: 'esm', metafile: true, logLevel: 'silent', platform: 'neutral' });
  return Object.values(r.metafile.outputs)[0]?.exports ?? [];
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
  // TextDecoder's constructor defines its attributes with Object.defineProperty and looks labels up with Object.hasOwn.
  { module: /@exodus[\\/]bytes[\\/]fallback[\\/]encoding\.js$/, from: WEBAPI('intrinsics.ts'), names: { Object: 'ObjectStatics' } },
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
  // @exodus/bytes' encodings without its entry that installs the multi-byte
  // ones (webapi/encoding.ts installs them as a lazy module): files its
  // package exports do not list, so named here by path.
  'edgefn:exodus-encoding': fileURLToPath(new URL('../node_modules/@exodus/bytes/fallback/encoding.js', import.meta.url)),
  'edgefn:exodus-multi-byte': fileURLToPath(new URL('../node_modules/@exodus/bytes/fallback/multi-byte.js', import.meta.url)),
  // whatwg-url requires that entry only for its side effect (the multi-byte
  // encodings for percent-encoding): ours installs them, lazily.
  '@exodus/bytes/encoding.js': fileURLToPath(new URL('./webapi/encoding.ts', import.meta.url)),
};

/**
 * @exodus/bytes unpacks its legacy multi-byte tables (152 KB of compressed
 * JSON) in one file, on a table's first use; the in-isolate build asks the
 * host for each unpacked table instead (webapi/encoding-tables.ts), so the
 * snapshot has the decoders' code and no tables, and no isolate unpacks one.
 */
const hostEncodingTables: Plugin = {
  name: 'host-encoding-tables',
  setup(b) {
    b.onResolve({ filter: /[\\/]multi-byte\.table\.js$/ }, () => ({ path: WEBAPI('encoding-tables.ts') }));
  },
};
