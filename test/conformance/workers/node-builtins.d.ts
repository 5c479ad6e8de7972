// The Node.js modules node-compat.ts imports (nodejs_compat), typed for just
// what it uses: this folder is typed against Web types and never sees @types/node.
interface NodeBuffer extends Uint8Array {
  toString(encoding?: string): string;
  readUInt32BE(offset: number): number;
  readInt16LE(offset: number): number;
  equals(other: Uint8Array): boolean;
}
interface NodeBufferClass {
  from(value: string | ArrayLike<number>, encoding?: string): NodeBuffer;
  concat(list: readonly Uint8Array[]): NodeBuffer;
  alloc(size: number, fill?: number): NodeBuffer;
  byteLength(value: string, encoding?: string): number;
  isBuffer(value: unknown): boolean;
}
declare const Buffer: NodeBufferClass;
declare const process: { env: Record<string, string | undefined>; nextTick(fn: () => void): void };
declare module 'node:buffer' {
  export const Buffer: NodeBufferClass;
}
declare module 'node:events' {
  export class EventEmitter {
    on(name: string, fn: (...args: unknown[]) => void): this;
    once(name: string, fn: (...args: unknown[]) => void): this;
    emit(name: string, ...args: unknown[]): boolean;
    listenerCount(name: string): number;
  }
}
declare module 'node:util' {
  export function format(format: string, ...args: unknown[]): string;
  export function promisify<T>(fn: (cb: (err: Error | null, value: T) => void) => void): () => Promise<T>;
}
declare module 'node:path' {
  export function join(...parts: string[]): string;
  export function basename(path: string, ext?: string): string;
  export function dirname(path: string): string;
  export function extname(path: string): string;
  export function resolve(...parts: string[]): string;
  export function relative(from: string, to: string): string;
  export function normalize(path: string): string;
}
declare module 'node:crypto' {
  interface Digest {
    update(data: string | Uint8Array): Digest;
    digest(encoding: string): string;
  }
  export function createHash(algorithm: string): Digest;
  export function createHmac(algorithm: string, key: string | Uint8Array): Digest;
  export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, fn: () => R): R;
  }
}
declare module 'node:string_decoder' {
  export class StringDecoder {
    constructor(encoding?: string);
    write(bytes: Uint8Array): string;
    end(bytes?: Uint8Array): string;
  }
}
declare module 'node:url' {
  export function fileURLToPath(url: string): string;
  export function pathToFileURL(path: string): URL;
}
