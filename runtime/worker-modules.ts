// Multiple-module workers, like workerd's modules format: a set of named
// modules (ES modules, WebAssembly, text, binary data, JSON) and the name of
// the main one.
//
// The set is bundled by esbuild over a virtual file system of the uploaded
// modules into the same single classic script prepareScript() makes, so the
// cold path is unchanged: one compile, with V8's code cache. A wasm module
// becomes an ES module that builds `new WebAssembly.Module(bytes)` from bytes
// embedded in the script (counted by runtime/webapi/wasm.ts like any other),
// a data module exports an ArrayBuffer, a text module a string, a JSON module
// the parsed value. Module names are paths ("lib/util.js"); imports resolve
// relative to the importer, as URLs would.

import type { Plugin } from 'esbuild';
import { posix } from 'node:path';
import { EdgefnError } from './errors.ts';
import { bundleModule, MAX_SCRIPT_BYTES, type PreparedScript } from './worker-script.ts';
import { withNodeRequire } from './node-compat/bundle.ts';

export const MODULE_TYPES = ['esm', 'wasm', 'text', 'data', 'json'] as const;
export type ModuleType = (typeof MODULE_TYPES)[number];

export interface WorkerModule {
  /** A relative path such as "index.js" or "lib/add.wasm". */
  name: string;
  type: ModuleType;
  /** Source text for esm/text/json; base64 for wasm/data. */
  content: string;
}

export interface ModuleSet {
  main: string;
  modules: WorkerModule[];
}

/** Modules in one set, at most. */
export const MAX_MODULES = 1000;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function invalid(message: string): EdgefnError {
  return new EdgefnError('ERR_INVALID_INPUT', message);
}

function checkName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name === '') throw invalid(`${where}.name must be a non-empty string`);
  // Names are the paths imports resolve against, so each must already be in
  // normal form: otherwise "./a.js" and "a.js" would be two modules.
  if (name.length > 256 || name.startsWith('/') || name.includes('\\') || posix.normalize(name) !== name || name.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw invalid(`${where}.name "${name}" is not a valid module name: use a relative path such as "index.js" or "lib/util.js" (no "..", ".", leading "/" or "\\\\")`);
  }
  return name;
}

/**
 * Checks the shape of an uploaded module set: every error names the module
 * and field. Throws ERR_INVALID_INPUT.
 */
export function checkModuleSet(modules: unknown, main: unknown): ModuleSet {
  if (!Array.isArray(modules)) throw invalid('"modules" must be an array of { "name", "type", "content" }');
  if (modules.length === 0) throw invalid('"modules" is empty');
  if (modules.length > MAX_MODULES) throw invalid(`"modules" has ${modules.length} entries; the limit is ${MAX_MODULES}`);
  if (typeof main !== 'string' || main === '') throw invalid('"main" is required with "modules": the name of the ES module that exports the handler');
  const seen = new Set<string>();
  const out: WorkerModule[] = [];
  let total = 0;
  modules.forEach((m: unknown, i) => {
    const where = `modules[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw invalid(`${where} must be an object like { "name": "index.js", "type": "esm", "content": "…" }`);
    const o = m as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['name', 'type', 'content'].includes(k)) throw invalid(`${where} has unknown field "${k}" (known: name, type, content)`);
    const name = checkName(o['name'], where);
    if (seen.has(name)) throw invalid(`duplicate module name "${name}"`);
    seen.add(name);
    const type = o['type'];
    if (typeof type !== 'string' || !(MODULE_TYPES as readonly string[]).includes(type)) {
      throw invalid(`module "${name}" has unknown type ${JSON.stringify(type)} (known: ${MODULE_TYPES.join(', ')})`);
    }
    const content = o['content'];
    if (typeof content !== 'string') throw invalid(`module "${name}": "content" must be a string${type === 'wasm' || type === 'data' ? ' (base64)' : ''}`);
    if (type === 'wasm' || type === 'data') {
      if (!BASE64.test(content)) throw invalid(`module "${name}" (${type}): "content" must be standard base64`);
      total += (content.length / 4) * 3 - (content.endsWith('==') ? 2 : content.endsWith('=') ? 1 : 0);
    } else {
      total += Buffer.byteLength(content);
    }
    out.push({ name, type: type as ModuleType, content });
  });
  if (total > MAX_SCRIPT_BYTES) throw invalid(`the modules total ${total} bytes; the limit is ${MAX_SCRIPT_BYTES} bytes (10 MB)`);
  const mainModule = out.find((m) => m.name === main);
  if (mainModule === undefined) throw invalid(`"main" names "${main}", which is not among the modules (${out.slice(0, 10).map((m) => m.name).join(', ')}${out.length > 10 ? ', …' : ''})`);
  if (mainModule.type !== 'esm') throw invalid(`"main" module "${main}" is of type ${mainModule.type}; it must be an esm module`);
  return { main, modules: out };
}

const NS = 'edgefn-module';
const BYTES_NS = 'edgefn-module-bytes';

function modulePlugin(set: ModuleSet, flags: readonly string[] = []): Plugin {
  const byName = new Map(set.modules.map((m) => [m.name, m]));
  return {
    name: 'edgefn-modules',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return { path: set.main, namespace: NS };
        // Imports inside the Node.js built-ins a nodejs_compat worker gets (node-compat/bundle.ts) are theirs to resolve.
        if (args.namespace === 'file') return undefined;
        // The wrapper a wasm/data module becomes imports its own bytes.
        const bytesOf = (args.pluginData as { bytesOf?: string } | undefined)?.bytesOf;
        if (bytesOf !== undefined) return { path: bytesOf, namespace: BYTES_NS };
        const spec = args.path;
        const relative = spec.startsWith('./') || spec.startsWith('../');
        const target = relative ? posix.normalize(posix.join(posix.dirname(args.importer), spec)) : spec.startsWith('/') ? spec.slice(1) : spec;
        if (!byName.has(target)) {
          const hint = relative ? `no module named "${target}"` : `it is not a relative path and no module is named "${target}"; bundle npm packages before uploading, or upload them as modules`;
          return { errors: [{ text: `cannot resolve "${spec}" imported by "${args.importer}": ${hint}` }] };
        }
        return { path: target, namespace: NS };
      });
      b.onLoad({ filter: /.*/, namespace: NS }, (args) => {
        const m = byName.get(args.path)!;
        const bytes = `import bytes from ${JSON.stringify(m.name)};`;
        switch (m.type) {
          case 'esm':
            return { contents: withNodeRequire(m.content, flags), loader: 'js' };
          case 'text':
            return { contents: m.content, loader: 'text' };
          case 'json':
            return { contents: m.content, loader: 'json' };
          case 'data':
            // esbuild's binary loader makes a fresh Uint8Array over exactly these bytes.
            return { contents: `${bytes}\nexport default bytes.buffer;`, loader: 'js', pluginData: { bytesOf: m.name } };
          case 'wasm':
            return { contents: `${bytes}\nexport default new WebAssembly.Module(bytes);`, loader: 'js', pluginData: { bytesOf: m.name } };
        }
      });
      b.onLoad({ filter: /.*/, namespace: BYTES_NS }, (args) => ({ contents: Buffer.from(byName.get(args.path)!.content, 'base64'), loader: 'binary' }));
    },
  };
}

/** Bundles a checked module set into one script (see the file comment). Throws ERR_SCRIPT_COMPILE. */
export function prepareModules(set: ModuleSet, flags: readonly string[] = []): Promise<PreparedScript> {
  return bundleModule({ entryPoints: [set.main], plugins: [modulePlugin(set, flags)] }, flags);
}
