// What `edgefn deploy <path>` uploads when <path> is a project directory (or
// a file deployed with --modules): where the entry is, and, for --modules,
// every module file under the project root.

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { ModuleType, WireModule } from '../wire.ts';
import { CliError } from './cli-error.ts';

/** How a file's extension maps to a module type under --modules. */
export const MODULE_EXTENSIONS: Readonly<Record<string, ModuleType>> = {
  '.js': 'esm',
  '.mjs': 'esm',
  '.wasm': 'wasm',
  '.txt': 'text',
  '.bin': 'data',
  '.json': 'json',
};

/** Entries tried, in order, in a directory whose package.json names no "main". */
export const DEFAULT_ENTRIES = ['index.js', 'index.ts', 'src/index.ts'] as const;

// Project metadata, not worker modules: uploading them would only add bytes.
const SKIP_FILES = new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'jsconfig.json']);

export interface Project {
  /** Absolute project root: the directory given, or the file's directory. */
  root: string;
  /** Absolute path of the entry module. */
  entry: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Finds the root and entry of `path`: a worker file, or a project directory. */
export async function resolveProject(path: string): Promise<Project> {
  const abs = resolve(path);
  let info;
  try {
    info = await stat(abs);
  } catch (err) {
    throw new CliError('ERR_READ_ENTRY', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  if (!info.isDirectory()) return { root: dirname(abs), entry: abs };
  const pkgPath = join(abs, 'package.json');
  if (await isFile(pkgPath)) {
    let main: unknown;
    try {
      main = (JSON.parse(await readFile(pkgPath, 'utf8')) as { main?: unknown }).main;
    } catch (err) {
      throw new CliError('ERR_READ_ENTRY', `cannot read ${pkgPath}: ${(err as Error).message}`, { cause: err });
    }
    if (main !== undefined) {
      if (typeof main !== 'string') throw new CliError('ERR_READ_ENTRY', `${pkgPath}: "main" must be a string`);
      const entry = resolve(abs, main);
      if (!(await isFile(entry))) throw new CliError('ERR_READ_ENTRY', `${pkgPath} names "main": "${main}", which does not exist`);
      return { root: abs, entry };
    }
  }
  for (const candidate of DEFAULT_ENTRIES) {
    const entry = join(abs, candidate);
    if (await isFile(entry)) return { root: abs, entry };
  }
  throw new CliError('ERR_READ_ENTRY', `no entry in ${path}: set "main" in package.json, or add ${DEFAULT_ENTRIES.join(', ')}`);
}

function moduleName(root: string, file: string): string {
  return relative(root, file).split(sep).join('/');
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (e.isFile()) out.push(full);
  }
}

/**
 * Every module file under the project root (by extension, see
 * MODULE_EXTENSIONS; node_modules and dot-files skipped) as a module set.
 */
export async function collectModules(project: Project): Promise<{ main: string; modules: WireModule[] }> {
  const ext = extname(project.entry).toLowerCase();
  if (MODULE_EXTENSIONS[ext] !== 'esm') {
    throw new CliError('ERR_READ_ENTRY', `--modules uploads files as they are, so the entry must be JavaScript (.js or .mjs), not ${basename(project.entry)}; deploy without --modules to bundle TypeScript`);
  }
  const files: string[] = [];
  await walk(project.root, files);
  const modules: WireModule[] = [];
  for (const file of files) {
    const type = MODULE_EXTENSIONS[extname(file).toLowerCase()];
    if (type === undefined) continue;
    if (dirname(file) === project.root && SKIP_FILES.has(basename(file))) continue;
    const bytes = await readFile(file);
    const content = type === 'wasm' || type === 'data' ? bytes.toString('base64') : bytes.toString('utf8');
    modules.push({ name: moduleName(project.root, file), type, content });
  }
  return { main: moduleName(project.root, project.entry), modules };
}
