// Tiny WebAssembly modules written as bytes, so wasm tests need no toolchain.
// Each is small enough to check by hand against the binary format spec
// (https://webassembly.github.io/spec/core/binary/modules.html).

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const I32 = 0x7f;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function vec(items: number[][]): number[] {
  return [...leb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...leb(bytes.length), ...bytes];
}

/** `add(a: i32, b: i32): i32`. */
export function addModule(): Uint8Array {
  return new Uint8Array([
    ...MAGIC,
    ...section(1, vec([[0x60, ...vec([[I32], [I32]]), ...vec([[I32]])]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('add'), 0x00, 0]])),
    ...section(10, vec([(() => {
      const body = [0x00, 0x20, 0, 0x20, 1, 0x6a, 0x0b]; // no locals; local.get 0; local.get 1; i32.add; end
      return [...leb(body.length), ...body];
    })()])),
  ]);
}

/**
 * A module defining a memory of `initialPages` (no maximum) and
 * `grow(n: i32): i32`, which runs the wasm `memory.grow` instruction by 16
 * pages (1 MB) at a time, n times or until it fails, and returns the size in
 * pages. No JS sees that growth. With `exportMemory` false the memory stays internal.
 */
export function growModule(options: { initialPages?: number; exportMemory?: boolean } = {}): Uint8Array {
  const { initialPages = 1, exportMemory = true } = options;
  // block; loop
  //   local.get 0; i32.eqz; br_if 1                 ;; n == 0: done
  //   i32.const 16; memory.grow 0; i32.const -1; i32.eq; br_if 1   ;; failed: done
  //   local.get 0; i32.const 1; i32.sub; local.set 0
  //   br 0
  // end; end; memory.size 0; end
  const code = [
    0x00, 0x02, 0x40, 0x03, 0x40, 0x20, 0, 0x45, 0x0d, 1, 0x41, 16, 0x40, 0, 0x41, 0x7f, 0x46, 0x0d, 1, 0x20, 0, 0x41, 1, 0x6b, 0x21, 0, 0x0c, 0, 0x0b, 0x0b, 0x3f, 0, 0x0b,
  ];
  const exports = [[...name('grow'), 0x00, 0]];
  if (exportMemory) exports.push([...name('memory'), 0x02, 0]);
  return new Uint8Array([
    ...MAGIC,
    ...section(1, vec([[0x60, ...vec([[I32]]), ...vec([[I32]])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...leb(initialPages)]])),
    ...section(7, vec(exports)),
    ...section(10, vec([[...leb(code.length), ...code]])),
  ]);
}

/** A module importing `env.memory` and exporting `size(): i32` (memory.size in pages). */
export function importMemoryModule(): Uint8Array {
  const code = [0x00, 0x3f, 0, 0x0b];
  return new Uint8Array([
    ...MAGIC,
    ...section(1, vec([[0x60, ...vec([]), ...vec([[I32]])]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('size'), 0x00, 0]])),
    ...section(10, vec([[...leb(code.length), ...code]])),
  ]);
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** A JS array literal of the bytes, to paste into a worker's source. */
export function bytesLiteral(bytes: Uint8Array): string {
  return `new Uint8Array([${[...bytes].join(',')}])`;
}
