// Multiple-module workers through the control API: esm + wasm + text + data +
// json modules bundled into one script, and a clear 400 for every malformed set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { addModule, base64, growModule } from '../helpers/wasm-bytes.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

const INDEX = `import add from './lib/add.wasm';
import { shout } from './lib/shout.js';
import motd from './motd.txt';
import blob from './data/blob.bin';
import config from './config.json';
const { add: sum } = new WebAssembly.Instance(add).exports;
export default { fetch() {
  return Response.json({
    module: add instanceof WebAssembly.Module,
    sum: sum(config.a, 2),
    motd: shout(motd),
    blob: [blob instanceof ArrayBuffer, [...new Uint8Array(blob)]],
  });
} };`;

const MODULES = [
  { name: 'index.js', type: 'esm', content: INDEX },
  { name: 'lib/shout.js', type: 'esm', content: `export const shout = (s) => s.toUpperCase() + '!';` },
  { name: 'lib/add.wasm', type: 'wasm', content: base64(addModule()) },
  { name: 'motd.txt', type: 'text', content: 'hi there' },
  { name: 'data/blob.bin', type: 'data', content: base64(new Uint8Array([0, 1, 254, 255])) },
  { name: 'config.json', type: 'json', content: '{ "a": 40 }' },
];

describe('multiple-module deploys', () => {
  it('serves a worker made of esm, wasm, text, data and json modules', async () => {
    const deployed = await node.deploy('multi', { modules: MODULES, main: 'index.js' });
    expect(deployed.status).toBe(201);
    const res = await node.call('multi');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ module: true, sum: 42, motd: 'HI THERE!', blob: [true, [0, 1, 254, 255]] });
  });

  it('holds wasm modules from a module set to the same memory rules', async () => {
    const internal = [
      { name: 'index.js', type: 'esm', content: `import m from './m.wasm'; export default { fetch() { return new Response('x'); } };` },
      { name: 'm.wasm', type: 'wasm', content: base64(growModule({ exportMemory: false })) },
    ];
    const res = await node.deploy('multi-internal-memory', { modules: internal, main: 'index.js' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.json)).toMatch(/defines memory 0 without exporting it/);
  });

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no main', { modules: MODULES }, /"main" is required with "modules"/],
    ['a main that is not a module', { modules: MODULES, main: 'nope.js' }, /"main" names "nope\.js", which is not among the modules/],
    ['a main that is not esm', { modules: MODULES, main: 'motd.txt' }, /"main" module "motd\.txt" is of type text; it must be an esm module/],
    ['both script and modules', { script: 'export default {}', modules: MODULES, main: 'index.js' }, /either "script" or "modules"/],
    ['main without modules', { script: 'export default {}', main: 'index.js' }, /"main" needs "modules"/],
    ['duplicate names', { modules: [...MODULES, { name: 'motd.txt', type: 'text', content: 'again' }], main: 'index.js' }, /duplicate module name "motd\.txt"/],
    ['an unknown type', { modules: [...MODULES, { name: 'x.py', type: 'python', content: '' }], main: 'index.js' }, /module "x\.py" has unknown type "python" \(known: esm, wasm, text, data, json\)/],
    ['bad base64', { modules: [...MODULES, { name: 'b.bin', type: 'data', content: 'not base64!' }], main: 'index.js' }, /module "b\.bin" \(data\): "content" must be standard base64/],
    ['a name escaping the root', { modules: [...MODULES, { name: '../up.js', type: 'esm', content: '' }], main: 'index.js' }, /"\.\.\/up\.js" is not a valid module name/],
    ['service-worker format', { modules: MODULES, main: 'index.js', format: 'service-worker' }, /"format" must be module/],
    ['more than 10 MB', { modules: [...MODULES, { name: 'big.txt', type: 'text', content: 'x'.repeat(10 * 1024 * 1024) }], main: 'index.js' }, /the modules total \d+ bytes; the limit is 10485760 bytes \(10 MB\)/],
    [
      'an unresolved import',
      { modules: [{ name: 'index.js', type: 'esm', content: `import './lib/a.js'; export default { fetch() { return new Response('') } }` }, { name: 'lib/a.js', type: 'esm', content: `import x from './missing.js'; export default x;` }], main: 'index.js' },
      /cannot resolve "\.\/missing\.js" imported by "lib\/a\.js": no module named "lib\/missing\.js"/,
    ],
    [
      'a bare import',
      { modules: [{ name: 'index.js', type: 'esm', content: `import 'lodash'; export default { fetch() { return new Response('') } }` }], main: 'index.js' },
      /cannot resolve "lodash" imported by "index\.js": it is not a relative path/,
    ],
  ];
  it.each(cases)('answers 400 for %s', async (_what, body, message) => {
    const res = await node.deploy('multi-bad', body);
    expect(res.status).toBe(400);
    const error = res.json['error'] as { code: string; message: string };
    expect(error.message).toMatch(message);
    expect(['ERR_INVALID_INPUT', 'ERR_SCRIPT_COMPILE']).toContain(error.code);
  });
});
