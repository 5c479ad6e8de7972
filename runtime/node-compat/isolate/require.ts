// `require` for CommonJS code in a nodejs_compat worker, as Node's require of
// a built-in: what the module's default export is (EventEmitter for 'events',
// the path object for 'path', …). Not a global: bundle.ts injects it, so it
// binds only free `require` references in the worker's code, such as the one
// in esbuild's `__require` shim that a pre-bundled ESM worker carries for its
// CommonJS dependencies. Each module is built on its first require.

const LOADERS: Record<string, () => unknown> = {
  assert: () => (require('./assert.ts') as typeof import('./assert.ts')).default,
  async_hooks: () => (require('./async_hooks.ts') as typeof import('./async_hooks.ts')).default,
  buffer: () => (require('./buffer.ts') as typeof import('./buffer.ts')).default,
  crypto: () => (require('./crypto.ts') as typeof import('./crypto.ts')).default,
  events: () => (require('./events.ts') as typeof import('./events.ts')).default,
  path: () => (require('./path.ts') as typeof import('./path.ts')).default,
  'path/posix': () => (require('./path.ts') as typeof import('./path.ts')).default,
  process: () => (require('./process.ts') as typeof import('./process.ts')).default,
  stream: () => (require('./stream.ts') as typeof import('./stream.ts')).default,
  string_decoder: () => (require('./string_decoder.ts') as typeof import('./string_decoder.ts')).default,
  url: () => (require('./url.ts') as typeof import('./url.ts')).default,
  util: () => (require('./util.ts') as typeof import('./util.ts')).default,
};

function nodeRequire(id: string): unknown {
  const name = typeof id === 'string' && id.startsWith('node:') ? id.slice(5) : id;
  const load = Object.hasOwn(LOADERS, name) ? LOADERS[name] : undefined;
  if (load === undefined) throw new Error(`Cannot find module '${String(id)}': only the Node.js built-ins nodejs_compat provides can be required (${Object.keys(LOADERS).join(', ')})`);
  return load();
}

export { nodeRequire as __edgefn_require };
