// WebAssembly through a real node: isolate hosts run with --wasm-max-mem-pages,
// and wasm memory counts against the function's memory budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostExecArgv } from '../../router/host-supervisor.ts';
import { DEFAULT_LIMITS } from '../../runtime/index.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { addModule, bytesLiteral, growModule } from '../helpers/wasm-bytes.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
  await node.deploy('neighbour', { script: `export default { fetch() { return new Response('fine'); } }` });
});
afterAll(async () => {
  await node.close();
});

describe('WebAssembly on a node', () => {
  it('instantiates a module shipped as bytes in the script', async () => {
    const script = `const bytes = ${bytesLiteral(addModule())};
      export default { async fetch() {
        const { instance } = await WebAssembly.instantiate(bytes);
        return new Response(String(instance.exports.add(20, 22)));
      } };`;
    expect((await node.deploy('wasm-add', { script })).status).toBe(201);
    const res = await node.call('wasm-add');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('42');
  });

  it('ends a request whose wasm code grows memory past a 64 MB budget with 503 memory-limit, and the node keeps serving', async () => {
    // grow(n) runs `memory.grow` inside wasm, out of reach of any JS wrapper:
    // it stops at the host's --wasm-max-mem-pages (the node's 128 MB default)
    // and the after-entry check finds 128 MB of wasm memory in a 64 MB budget.
    const script = `const mod = new WebAssembly.Module(${bytesLiteral(growModule())});
      export default { fetch(req) {
        const { grow } = new WebAssembly.Instance(mod).exports;
        const pages = grow(Number(new URL(req.url).searchParams.get('pages')));
        return new Response('pages=' + pages);
      } };`;
    expect((await node.deploy('wasm-grow', { script, limits: { memoryMb: 64, cpuMs: 10_000 } })).status).toBe(201);
    expect(await (await node.call('wasm-grow', '/?pages=2')).text()).toBe('pages=33');
    const res = await node.call('wasm-grow', '/?pages=100000');
    expect(res.status).toBe(503);
    expect(res.headers.get('edgefn-error')).toBe('memory-limit');
    expect(await res.text()).toMatch(/memory limit of 64 MB exceeded/);
    expect(await (await node.call('neighbour')).text()).toBe('fine');
    expect(await (await node.call('wasm-grow', '/?pages=1')).text()).toBe('pages=17');
  });

  it('throws RangeError for a JS WebAssembly.Memory bigger than the budget', async () => {
    const script = `export default { fetch() {
        try { new WebAssembly.Memory({ initial: 1600, maximum: 4000 }); return new Response('allocated'); }
        catch (e) { return new Response(e.name + ': ' + e.message); }
      } };`;
    await node.deploy('wasm-js-memory', { script, limits: { memoryMb: 64 } });
    const res = await node.call('wasm-js-memory');
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^RangeError: WebAssembly\.Memory\(\): WebAssembly memory would reach 100 MB, past this function's memory limit of 64 MB$/);
  });

  it('caps every wasm memory of an isolate host at the default memory limit with --wasm-max-mem-pages', async () => {
    expect(hostExecArgv({ defaults: { ...DEFAULT_LIMITS } } as Parameters<typeof hostExecArgv>[0])).toContain(`--wasm-max-mem-pages=${DEFAULT_LIMITS.memoryMb * 16}`);
    // A 1 GB budget would allow more, but the flag stops wasm memory.grow at
    // the node's 128 MB default (2048 pages): proof the hosts run with it.
    const script = `const mod = new WebAssembly.Module(${bytesLiteral(growModule())});
      export default { fetch() { return new Response('pages=' + new WebAssembly.Instance(mod).exports.grow(100000)); } };`;
    await node.deploy('wasm-flag', { script, limits: { memoryMb: 1024, cpuMs: 10_000 } });
    // 1 initial page plus 16-page steps while they fit under the cap.
    const cap = DEFAULT_LIMITS.memoryMb * 16;
    expect(await (await node.call('wasm-flag')).text()).toBe(`pages=${1 + 16 * Math.floor((cap - 1) / 16)}`);
  });
});
