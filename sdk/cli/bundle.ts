// Decides whether a worker entry must be bundled and bundles it.
//
// The node accepts one script per function and compiles it as plain
// JavaScript, so TypeScript must be transpiled here, and any import of another
// module must be resolved here, where the files are. An entry that is already
// a single JavaScript file is sent as written, so what runs is byte for byte
// what the author wrote.

import { build, type BuildOptions, type Message, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { NODEJS_COMPAT_MODULES, type WorkerFormat } from '../wire.ts';
import { CliError } from './cli-error.ts';

const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);

export interface EntryAnalysis {
  typescript: boolean;
  /** Every module specifier the entry imports, statically or with import()/require(), in source order. */
  imports: string[];
}

export interface PreparedWorker {
  script: string;
  bundled: boolean;
}

/** Options shared by analysis and bundling, so both parse the entry the same way. */
function baseOptions(file: string, format: WorkerFormat): BuildOptions {
  return {
    entryPoints: [file],
    bundle: true,
    write: false,
    // A service-worker script is a classic script: an ESM `export` or top-level
    // `import` in it would not even parse, so its bundle is an IIFE.
    format: format === 'service-worker' ? 'iife' : 'esm',
    // Workers have Web APIs, not Node's: prefer the packages' worker/browser builds.
    platform: 'neutral',
    target: 'es2023',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  };
}

/**
 * Parses the entry with esbuild (so imports inside strings and comments do not
 * count) and lists its imports without following them.
 */
export async function analyzeEntry(file: string, format: WorkerFormat = 'module'): Promise<EntryAnalysis> {
  const imports: string[] = [];
  const record: Plugin = {
    name: 'edgefn-record-imports',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        imports.push(args.path);
        return { path: args.path, external: true };
      });
    },
  };
  await runEsbuild({ ...baseOptions(file, format), plugins: [record] }, file);
  return { typescript: TYPESCRIPT_EXTENSIONS.has(extname(file).toLowerCase()), imports };
}

export function needsBundle(analysis: EntryAnalysis): boolean {
  return analysis.typescript || analysis.imports.length > 0;
}

const BYTES_NS = 'edgefn-bytes';

/**
 * Non-JavaScript imports, with the meaning the node gives them in a module set
 * (runtime/worker-modules.ts), so a project deploys the same bundled or with
 * --modules: `.wasm` is a WebAssembly.Module, `.bin` an ArrayBuffer, `.txt` a
 * string (esbuild's text loader; .json is built in).
 */
const assetPlugin: Plugin = {
  name: 'edgefn-assets',
  setup(b) {
    b.onResolve({ filter: /\.(wasm|bin)$/ }, (args) => ((args.pluginData as { bytes?: boolean } | undefined)?.bytes ? { path: resolve(args.resolveDir, args.path), namespace: BYTES_NS } : undefined));
    b.onLoad({ filter: /\.(wasm|bin)$/, namespace: 'file' }, (args) => ({
      contents: `import bytes from ${JSON.stringify(`./${basename(args.path)}`)};\nexport default ${args.path.endsWith('.wasm') ? 'new WebAssembly.Module(bytes)' : 'bytes.buffer'};`,
      loader: 'js',
      resolveDir: dirname(args.path),
      pluginData: { bytes: true },
    }));
    b.onLoad({ filter: /.*/, namespace: BYTES_NS }, async (args) => ({ contents: await readFile(args.path), loader: 'binary' }));
  },
};

/**
 * Node.js built-ins are the node's to provide (with the `nodejs_compat`
 * flag, which the node checks and names when it is missing): `node:` imports
 * stay imports in the bundle, and so do the bare names of the modules the
 * flag provides when it is given. A CommonJS `require()` of one inside a
 * dependency cannot stay (esbuild's ESM output has no require); import them.
 */
function builtinsPlugin(flags: readonly string[]): Plugin {
  const bare = flags.includes('nodejs_compat') ? new Set<string>(NODEJS_COMPAT_MODULES) : new Set<string>();
  return {
    name: 'edgefn-node-builtins',
    setup(b) {
      b.onResolve({ filter: /^node:|^[a-z_]+(\/[a-z_]+)?$/ }, (args) => (args.path.startsWith('node:') || bare.has(args.path.split('/')[0]!) ? { path: args.path, external: true } : undefined));
    },
  };
}

/** Bundles the entry and everything it imports into one script. `flags`: the deploy's compatibility flags. */
export async function bundleEntry(file: string, format: WorkerFormat = 'module', flags: readonly string[] = []): Promise<string> {
  const files = await runEsbuild({ ...baseOptions(file, format), plugins: [builtinsPlugin(flags), assetPlugin], loader: { '.txt': 'text' } }, file);
  const out = files[0];
  if (out === undefined || files.length !== 1) {
    throw new CliError('ERR_BUNDLE', `esbuild produced ${files.length} output files for ${file}; expected exactly one`);
  }
  return out.text;
}

/** Reads the entry and returns the script to upload: the file as written, or its bundle. */
export async function prepareWorker(file: string, format: WorkerFormat = 'module', flags: readonly string[] = []): Promise<PreparedWorker> {
  const path = resolve(file);
  const source = await readEntry(path, file);
  // A single file whose only imports are Node.js built-ins goes as written too: the node resolves them.
  const imports = (await analyzeEntry(path, format)).imports;
  const analysis = { typescript: TYPESCRIPT_EXTENSIONS.has(extname(path).toLowerCase()), imports: imports.filter((i) => !i.startsWith('node:')) };
  if (!needsBundle(analysis)) return { script: source, bundled: false };
  return { script: await bundleEntry(path, format, flags), bundled: true };
}

async function readEntry(path: string, file: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new CliError('ERR_READ_ENTRY', `cannot read ${file}: ${reason}`, { cause: err });
  }
}

/**
 * As prepareWorker, and also every local file the script was built from (the
 * entry and, when bundled, each input esbuild read: its metafile's inputs),
 * as absolute paths, for `edgefn dev` to watch.
 */
export async function prepareWorkerWithInputs(file: string, format: WorkerFormat = 'module', flags: readonly string[] = []): Promise<PreparedWorker & { inputs: string[] }> {
  const path = resolve(file);
  const source = await readEntry(path, file);
  const imports = (await analyzeEntry(path, format)).imports;
  if (!needsBundle({ typescript: TYPESCRIPT_EXTENSIONS.has(extname(path).toLowerCase()), imports: imports.filter((i) => !i.startsWith('node:')) })) return { script: source, bundled: false, inputs: [path] };
  const inputs = new Set<string>([path]);
  const result = await runEsbuildWithMeta({ ...baseOptions(path, format), plugins: [builtinsPlugin(flags), assetPlugin], loader: { '.txt': 'text' }, metafile: true }, file);
  for (const input of Object.keys(result.metafile.inputs)) {
    // Keys are paths relative to the working directory, or `namespace:path`
    // for files a plugin loaded (the raw bytes behind a .wasm import).
    const colon = input.indexOf(':');
    const local = colon > 1 ? input.slice(colon + 1) : input;
    inputs.add(resolve(local));
  }
  return { script: result.text, bundled: true, inputs: [...inputs].sort() };
}

async function runEsbuildWithMeta(options: BuildOptions, file: string): Promise<{ text: string; metafile: { inputs: Record<string, unknown> } }> {
  try {
    const result = await build({ ...options, write: false, metafile: true });
    const out = result.outputFiles[0];
    if (out === undefined || result.outputFiles.length !== 1) throw new CliError('ERR_BUNDLE', `esbuild produced ${result.outputFiles.length} output files for ${file}; expected exactly one`);
    return { text: out.text, metafile: result.metafile };
  } catch (err) {
    if (err instanceof CliError) throw err;
    const errors = (err as { errors?: Message[] }).errors;
    const detail = errors !== undefined && errors.length > 0 ? errors.slice(0, 5).map(describe).join('\n') : String(err);
    throw new CliError('ERR_BUNDLE', `cannot bundle ${file}:\n${detail}`, { cause: err });
  }
}

async function runEsbuild(options: BuildOptions, file: string): Promise<{ text: string }[]> {
  try {
    const result = await build({ ...options, write: false });
    return result.outputFiles;
  } catch (err) {
    // esbuild rejects with { errors: Message[] }; this is the one seam where
    // its failures become ERR_BUNDLE.
    const errors = (err as { errors?: Message[] }).errors;
    const detail = errors !== undefined && errors.length > 0 ? errors.slice(0, 5).map(describe).join('\n') : String(err);
    throw new CliError('ERR_BUNDLE', `cannot bundle ${file}:\n${detail}`, { cause: err });
  }
}

function describe(m: Message): string {
  return m.location ? `  ${m.location.file}:${m.location.line}:${m.location.column + 1}: ${m.text}` : `  ${m.text}`;
}
