// Node.js built-in modules in a worker's bundle. A worker deployed with the
// `nodejs_compat` flag gets the modules it imports (runtime/node-compat/isolate/,
// built on the Node core ports in node_modules) bundled into its own script,
// with `Buffer` and `process` injected as globals: only what it imports is
// compiled and run, and it rides the function's V8 code cache. A worker
// without the flag is bundled as before, and a `node:` import is refused
// with an error naming the flag.
//
// AsyncLocalStorage needs `await` to go through Promise.prototype.then
// (isolate/async_hooks.ts says why): when the bundle turns out to contain
// node:async_hooks, it is bundled again with async functions lowered to
// generators. Only those workers pay for that.

import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { NODEJS_COMPAT_MODULES as NODE_MODULES } from '../../sdk/wire.ts';
import { hasNodeCompat } from './flags.ts';

const ISOLATE_DIR = fileURLToPath(new URL('./isolate/', import.meta.url));
const fileOf = (name: string): string => `${ISOLATE_DIR}${name}.ts`;
/** Subpath modules Node has that map onto one of ours. */
const SUBPATHS: Record<string, string> = { 'path/posix': 'path' };
const ASYNC_HOOKS = fileOf('async_hooks');
/** The specifier withNodeRequire() imports isolate/require.ts by (a worker given as text has no directory to resolve a path from). */
const NODE_REQUIRE = 'edgefn:node-require';
/** The project root, from which the ports in node_modules resolve. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const SPECIFIER = /^(node:)?([a-z_]+(?:\/[a-z_]+)?)$/;

function moduleFile(name: string): string | undefined {
  if ((NODE_MODULES as readonly string[]).includes(name)) return fileOf(name);
  const mapped = SUBPATHS[name];
  return mapped === undefined ? undefined : fileOf(mapped);
}

/** A library file (one of ours or a port's), whose bare imports are npm packages, not the worker's built-ins. */
function isLibrary(importer: string): boolean {
  return importer.startsWith(ISOLATE_DIR) || importer.includes('/node_modules/');
}

/** Dependencies of the util port replaced by our own (isolate/shims/README.md says why). */
const UTIL_SHIMS = /^(is-arguments|is-generator-function|which-typed-array|is-typed-array)$/;
const UTIL_DIR = /[\\/]node_modules[\\/]util[\\/]/;

function nodeBuiltins(enabled: boolean): Plugin {
  const known = NODE_MODULES.map((m) => `node:${m}`).join(', ');
  return {
    name: 'edgefn-node-builtins',
    setup(b) {
      if (enabled) b.onResolve({ filter: /^edgefn:node-require$/ }, () => ({ path: fileOf('require') }));
      if (enabled) b.onResolve({ filter: UTIL_SHIMS }, (args) => (UTIL_DIR.test(args.importer) ? { path: `${ISOLATE_DIR}shims/${args.path}.cjs` } : undefined));
      b.onResolve({ filter: SPECIFIER }, (args) => {
        const m = SPECIFIER.exec(args.path)!;
        const prefixed = m[1] !== undefined;
        const name = m[2]!;
        const from = args.importer === '' ? '' : ` imported by "${args.importer}"`;
        if (!enabled) {
          if (!prefixed) return undefined;
          return { errors: [{ text: `cannot resolve "${args.path}"${from}: Node.js built-in modules need the "nodejs_compat" compatibility flag (deploy with "compatibilityFlags": ["nodejs_compat"])` }] };
        }
        // The ports' own shim of `process` is replaced by ours, so there is one process.env.
        if (name === 'process') return { path: fileOf('process') };
        if (!prefixed && isLibrary(args.importer)) return undefined;
        const file = moduleFile(name);
        if (file !== undefined) return { path: file };
        if (!prefixed) return undefined;
        return { errors: [{ text: `cannot resolve "${args.path}"${from}: it is not among the Node.js modules nodejs_compat provides (${known})` }] };
      });
    },
  };
}

/** Build options a worker's bundle takes for its flags; `lowerAsync` for the second pass (see the file comment). */
export function nodeCompatOptions(flags: readonly string[] | undefined, lowerAsync = false): Pick<BuildOptions, 'plugins' | 'inject' | 'supported' | 'mainFields' | 'nodePaths' | 'metafile' | 'define'> {
  const enabled = hasNodeCompat(flags);
  if (!enabled) return { plugins: [nodeBuiltins(false)] };
  return {
    plugins: [nodeBuiltins(true)],
    inject: [fileOf('globals')],
    // The ports are CommonJS packages with `main` only; a neutral build has no main fields by default.
    mainFields: ['module', 'main'],
    nodePaths: [`${ROOT}node_modules`],
    metafile: true,
    // Browserified ports reach the global object as Node's `global`.
    define: { global: 'globalThis' },
    ...(lowerAsync ? { supported: { 'async-await': false, 'async-generator': false, 'for-await': false } } : {}),
  };
}

/** Whether a nodejs_compat bundle contains node:async_hooks, and so must be built again with async code lowered. */
export function needsAsyncLowering(metafile: Metafile | undefined): boolean {
  return metafile !== undefined && Object.keys(metafile.inputs).some((input) => fileURLToPath(new URL(input, `file://${ROOT}`)) === ASYNC_HOOKS);
}

/**
 * A worker's own source, with `require` bound to the built-ins' CommonJS
 * require (isolate/require.ts) when it uses the name without declaring it:
 * a pre-bundled ESM worker's `__require` shim (esbuild's output for a
 * CommonJS dependency's require('events')) and a direct `require('util')`
 * then get what Node's require gives. The import goes last (imports are
 * hoisted) so that line numbers in stack traces stay the worker's.
 */
export function withNodeRequire(source: string, flags: readonly string[] | undefined): string {
  // A call, or the shim's `typeof require` test: not the word in a comment, which would cost the worker every module.
  if (!hasNodeCompat(flags) || !/\brequire\s*\(|\btypeof\s+require\b/.test(source)) return source;
  if (/\b(?:var|let|const|function|class|import)\s+(?:\{[^}]*\b)?require\b/.test(source)) return source;
  return `${source}\nimport { __edgefn_require as require } from '${NODE_REQUIRE}';\n`;
}
