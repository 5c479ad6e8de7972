import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeEntry, bundleEntry, needsBundle, prepareWorker } from '../../../sdk/cli/bundle.ts';
import { CliError } from '../../../sdk/cli/cli-error.ts';

const FIXTURE = new URL('../../fixtures/sdk-worker/worker.ts', import.meta.url).pathname;

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefn-sdk-bundle-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, contents: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, contents);
  return path;
}

/** Loads a bundled module the way a module worker is loaded: as one ES module with no siblings. */
async function importModule(code: string): Promise<{ default: { fetch(req: Request, env: unknown, ctx: unknown): Promise<Response> } }> {
  return (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as never;
}

async function errorOf(p: Promise<unknown>): Promise<CliError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  return err as CliError;
}

describe('the bundle decision', () => {
  it('sends a single JavaScript module as written, byte for byte', async () => {
    const source = `// import x from './not-real.js'\nconst s = "import y from './also-not.js'";\nexport default { fetch: () => new Response(s) };\n`;
    const path = await file('plain.js', source);
    expect(await analyzeEntry(path)).toEqual({ typescript: false, imports: [] });
    expect(await prepareWorker(path)).toEqual({ script: source, bundled: false });
  });

  it('bundles TypeScript even when it imports nothing', async () => {
    const path = await file('alone.ts', 'const n: number = 1;\nexport default { fetch: () => new Response(String(n)) };\n');
    const analysis = await analyzeEntry(path);
    expect(analysis).toEqual({ typescript: true, imports: [] });
    expect(needsBundle(analysis)).toBe(true);
    const { script, bundled } = await prepareWorker(path);
    expect(bundled).toBe(true);
    expect(script).not.toContain(': number');
  });

  it.each([
    ['import', `import { x } from './dep.js';\nexport default { fetch: () => new Response(x) };`],
    ['export … from', `export { default } from './dep-default.js';`],
    ['dynamic import()', `export default { fetch: async () => new Response((await import('./dep.js')).x) };`],
  ])('bundles JavaScript that uses %s', async (_kind, source) => {
    await file('dep.js', `export const x = 'dep-value';`);
    await file('dep-default.js', `export default { fetch: () => new Response('dep-default') };`);
    const path = await file('entry.js', source);
    expect((await analyzeEntry(path)).imports.length).toBe(1);
    const { script, bundled } = await prepareWorker(path);
    expect(bundled).toBe(true);
    expect(script).not.toMatch(/from\s*["']\.\/dep/);
    expect(script).not.toMatch(/import\(["']\.\/dep/);
  });
});

describe('bundling', () => {
  it('turns a .ts entry that imports a local helper into one module containing both', async () => {
    const { script, bundled } = await prepareWorker(FIXTURE);
    expect(bundled).toBe(true);
    expect(script).toContain('(from greet.ts)'); // the helper's code
    expect(script).toContain("searchParams.get(\"who\")"); // the entry's code
    expect(script).not.toMatch(/^\s*import\s/m);
    // It must also work alone: load it with no files around it and call fetch.
    const mod = await importModule(script);
    const ctx = { waitUntil() {}, passThroughOnException() {} };
    const res = await mod.default.fetch(new Request('http://x/?who=ada'), { GREETING: 'Hi' }, ctx);
    expect(await res.text()).toBe('Hi, ada! (from greet.ts)');
  });

  it('bundles an importing service-worker script as a classic script (iife)', async () => {
    await file('sw-dep.ts', `export const word: string = 'from-sw-dep';`);
    const path = await file('sw.ts', `import { word } from './sw-dep.ts';\naddEventListener('fetch', (e: { respondWith(r: Response): void }) => e.respondWith(new Response(word)));\n`);
    const { script, bundled } = await prepareWorker(path, 'service-worker');
    expect(bundled).toBe(true);
    expect(script).toContain('from-sw-dep');
    expect(script).not.toMatch(/^\s*(import|export)\s/m);
    // vm.Script compiles classic scripts only; an ES module would throw here.
    expect(() => new Script(script)).not.toThrow();
  });

  it('resolves packages with worker conditions first (workerd, worker, browser before default)', async () => {
    const pkg = join(dir, 'node_modules', 'dual');
    await mkdir(pkg, { recursive: true });
    await file('node_modules/dual/package.json', JSON.stringify({ name: 'dual', exports: { workerd: './workerd.js', node: './node.js', default: './node.js' } }));
    await file('node_modules/dual/workerd.js', `export const flavour = 'workerd-build';`);
    await file('node_modules/dual/node.js', `export const flavour = 'node-build';`);
    const path = await file('uses-dual.js', `import { flavour } from 'dual';\nexport default { fetch: () => new Response(flavour) };\n`);
    const script = await bundleEntry(path);
    expect(script).toContain('workerd-build');
    expect(script).not.toContain('node-build');
  });

  it('reports a syntax error as ERR_BUNDLE with file:line:column', async () => {
    const path = await file('broken.ts', 'export default {\n  fetch() { return new Response( }\n};\n');
    const err = await errorOf(prepareWorker(path));
    expect(err.code).toBe('ERR_BUNDLE');
    expect(err.message).toMatch(/broken\.ts:2:\d+: /);
  });

  it('reports an import that does not resolve as ERR_BUNDLE naming it', async () => {
    const path = await file('missing-dep.ts', `import { x } from './nowhere.ts';\nexport default { fetch: () => new Response(x) };\n`);
    const err = await errorOf(prepareWorker(path));
    expect(err.code).toBe('ERR_BUNDLE');
    expect(err.message).toContain('./nowhere.ts');
  });

  it('leaves Node.js built-ins for the node: node: imports always, bare names with nodejs_compat', async () => {
    const only = `import { Buffer } from 'node:buffer';\nexport default { fetch: () => new Response(Buffer.from('x')) };\n`;
    // Nothing but built-ins to resolve: sent as written.
    expect(await prepareWorker(await file('only-node.js', only))).toEqual({ script: only, bundled: false });
    const helper = await file('helper.ts', `import { EventEmitter } from 'events';\nexport const e: unknown = EventEmitter;\n`);
    const entry = await file('uses-node.ts', `import { createHash } from 'node:crypto';\nimport { e } from './${'helper.ts'}';\nexport default { fetch: () => new Response(String(e) + createHash('sha256')) };\n`);
    const withFlag = await prepareWorker(entry, 'module', ['nodejs_compat']);
    expect(withFlag.bundled).toBe(true);
    expect(withFlag.script).toMatch(/from "node:crypto"/);
    expect(withFlag.script).toMatch(/from "events"/);
    // Without the flag a bare name is an npm package like any other, and there is none here.
    expect((await errorOf(prepareWorker(entry))).message).toContain('"events"');
    void helper;
  });

  it('reports a missing entry as ERR_READ_ENTRY', async () => {
    const err = await errorOf(prepareWorker(join(dir, 'nope.ts')));
    expect(err.code).toBe('ERR_READ_ENTRY');
    expect(err.message).toMatch(/cannot read .*nope\.ts: no such file/);
  });
});
