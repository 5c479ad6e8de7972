// WebAssembly inside isolates, with its memory held to the function's memory
// budget (runtime/webapi/wasm.ts and the after-entry check in live-isolate.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, prepareScript, Runtime, type FunctionSource } from '../../runtime/index.ts';
import { addModule, bytesLiteral, growModule, importMemoryModule } from '../helpers/wasm-bytes.ts';
import { callRuntime, type RuntimeResult } from '../helpers/runtime-call.ts';

const runtimes: Runtime[] = [];
afterEach(() => {
  for (const r of runtimes.splice(0)) r.destroy();
});


const call = callRuntime;

/** One function per source, each with a 64 MB memory budget. */
async function setup(sources: Record<string, string>): Promise<Runtime> {
  const fns = new Map<string, FunctionSource>();
  for (const [name, src] of Object.entries(sources)) {
    const p = await prepareScript(src, 'module');
    fns.set(name, { name, version: 1, format: 'module', code: p.code, env: {}, limits: { ...DEFAULT_LIMITS, memoryMb: 64, cpuMs: 5000 } });
  }
  const rt = await Runtime.create({ source: (n) => fns.get(n), poolSize: 1, poolMemoryMb: 64 });
  runtimes.push(rt);
  return rt;
}

/** A worker whose fetch runs `body` with `ADD` and `GROW` (module bytes) in scope and answers with its JSON result. */
function worker(body: string): string {
  return `const ADD = ${bytesLiteral(addModule())};
const GROW = ${bytesLiteral(growModule())};
const INTERNAL = ${bytesLiteral(growModule({ exportMemory: false }))};
const BIG = ${bytesLiteral(growModule({ initialPages: 1600 }))};
const IMPORTS = ${bytesLiteral(importMemoryModule())};
const MB = 1024 * 1024;
const attempt = (f) => { try { return String(f()); } catch (e) { return e.name + ': ' + e.message; } };
export default { async fetch(request) { const url = new URL(request.url); return Response.json(await (async () => { ${body} })()); } };`;
}

describe('WebAssembly in a worker', () => {
  it('instantiates modules from bytes synchronously, with compile(), and with instantiate()', async () => {
    const rt = await setup({
      w: worker(`
        const sync = new WebAssembly.Instance(new WebAssembly.Module(ADD)).exports.add(2, 3);
        const compiled = await WebAssembly.compile(ADD);
        const fromModule = await WebAssembly.instantiate(compiled);
        const fromBytes = await WebAssembly.instantiate(ADD.buffer);
        return [sync, fromModule.exports.add(4, 5), fromBytes.instance.exports.add(6, 7), fromBytes.module instanceof WebAssembly.Module, compiled instanceof WebAssembly.Module];`),
    });
    expect(await call(rt, 'w')).toMatchObject({ status: 200, body: '[5,9,13,true,true]' });
  });

  it('throws RangeError for a JS Memory past the budget, and the isolate keeps serving', async () => {
    const rt = await setup({
      w: worker(`
        if (url.searchParams.has('ok')) return attempt(() => new WebAssembly.Memory({ initial: 16 }).buffer.byteLength);
        return [
          attempt(() => new WebAssembly.Memory({ initial: 1100, maximum: 2000 })),
          attempt(() => new (WebAssembly.Memory.prototype.constructor)({ initial: 1100 })),
          attempt(() => { const m = new WebAssembly.Memory({ initial: 1 }); return m.grow(1100); }),
          attempt(() => new WebAssembly.Memory({ initial: 1100, maximum: 2000, shared: true })),
        ];`),
    });
    const r = await call(rt, 'w');
    expect(r.status).toBe(200);
    const [ctor, viaPrototype, grow, shared] = JSON.parse(r.body!) as string[];
    // A shared memory is counted like any other (through SharedArrayBuffer's byteLength).
    expect(shared).toMatch(/^RangeError: WebAssembly\.Memory\(\): .*past this function's memory limit/);
    expect(ctor).toMatch(/^RangeError: WebAssembly\.Memory\(\): .*past this function's memory limit of 64 MB/);
    expect(viaPrototype).toMatch(/^RangeError/);
    expect(grow).toMatch(/^RangeError: WebAssembly\.Memory\.grow\(\)/);
    expect(await call(rt, 'w', '/?ok')).toMatchObject({ status: 200, body: '"1048576"' });
  });

  it('counts imported and exported memories together', async () => {
    const rt = await setup({
      w: worker(`
        const memory = new WebAssembly.Memory({ initial: 640 }); // 40 MB
        const inst = new WebAssembly.Instance(new WebAssembly.Module(IMPORTS), { env: { memory } });
        return [inst.exports.size(), attempt(() => new WebAssembly.Memory({ initial: 480 })), attempt(() => new WebAssembly.Instance(new WebAssembly.Module(BIG)))];`),
    });
    const r = await call(rt, 'w');
    const [size, second, big] = JSON.parse(r.body!) as [number, string, string];
    expect(size).toBe(640);
    expect(second).toMatch(/^RangeError/);
    expect(big).toMatch(/^RangeError: WebAssembly\.Instance\(\)/);
  });

  // WPT's common/sab.js gets SharedArrayBuffer as `new WebAssembly.Memory({ shared: true }).buffer.constructor`
  // (encoding, compression and streams tests over shared memory); Node 24 and workerd allow it.
  it('makes shared memories from JS and counts them with the rest', async () => {
    const rt = await setup({
      w: worker(`
        const shared = new WebAssembly.Memory({ initial: 640, maximum: 2000, shared: true }); // 40 MB
        const Sab = new WebAssembly.Memory({ shared: true, initial: 0, maximum: 0 }).buffer.constructor;
        return [shared.buffer.byteLength, Object.prototype.toString.call(new Sab(8)), attempt(() => new WebAssembly.Memory({ initial: 480 })), attempt(() => shared.grow(400))];`),
    });
    const r = await call(rt, 'w');
    const [size, sab, second, grow] = JSON.parse(r.body!) as [number, string, string, string];
    expect(size).toBe(640 * 65536);
    expect(sab).toBe('[object SharedArrayBuffer]');
    expect(second).toMatch(/^RangeError: WebAssembly\.Memory\(\)/);
    expect(grow).toMatch(/^RangeError: WebAssembly\.Memory\.grow\(\): .*past this function's memory limit/);
  });

  it('refuses a module whose memory is not exported, since it could not be counted', async () => {
    const rt = await setup({ w: worker(`return attempt(() => new WebAssembly.Module(INTERNAL));`) });
    expect(JSON.parse((await call(rt, 'w')).body!)).toMatch(/^CompileError: edgefn: .*defines memory 0 without exporting it/);
  });

  it('ends the request with ERR_MEMORY_LIMIT when wasm code grows memory past the budget, and the next request starts fresh', async () => {
    const rt = await setup({
      w: worker(`
        const inst = new WebAssembly.Instance(new WebAssembly.Module(GROW));
        const pages = inst.exports.grow(Number(url.searchParams.get('pages')));
        return pages;`),
    });
    expect(await call(rt, 'w', '/?pages=2')).toMatchObject({ status: 200, body: '33' });
    const r = await call(rt, 'w', '/?pages=80');
    expect(r.error).toBe('ERR_MEMORY_LIMIT');
    expect(r.message).toMatch(/memory limit of 64 MB exceeded/);
    expect(await call(rt, 'w', '/?pages=1')).toMatchObject({ status: 200, body: '17' });
  });
});
