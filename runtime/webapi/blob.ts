// Blob and File (File API §3-4). Bytes are joined once at construction into one
// immutable Uint8Array; slice() is a view on it, so slicing never copies.

import { defineGlobal } from './define.ts';
import { wallNow } from './clock.ts';
import { utf8Decode, utf8Encode } from './encoding.ts';
import { isUntouched, streams } from './streams.ts';
import { apply, bytesOf, copyBytes, typedArrayBuffer, typedArrayByteLength, typedArrayByteOffset, typedArraySet } from './intrinsics.ts';

const EMPTY = new Uint8Array(0);

export type BlobPart = BufferSource | Blob | string;

/** `chunks` joined into one new array; `size` is their total length. */
export function concatBytes(chunks: readonly Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as Uint8Array;
    typedArraySet(out, c, off);
    off += typedArrayByteLength(c);
  }
  return out;
}

function normalizeType(type: unknown): string {
  const t = type === undefined ? '' : String(type);
  // File API: a type with any code point outside U+0020-U+007E is treated as ''.
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return '';
  }
  return t.toLowerCase();
}

function toBytes(part: BufferSource): Uint8Array {
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  return bytesOf(part);
}

// `endings: 'native'` on a POSIX host: CRLF and lone CR become LF.
function nativeEndings(s: string): string {
  return s.indexOf('\r') < 0 ? s : s.replace(/\r\n?/g, '\n');
}

/** The bytes behind a Blob; never mutate them. */
export let blobBytes: (b: Blob) => Uint8Array;
/** A Blob over `bytes` without copying them (the caller gives up ownership). */
export let blobFromBytes: (bytes: Uint8Array, type: string) => Blob;
/** A copy of `value` sharing its bytes when it is a Blob or File (for structuredClone); null otherwise. */
export let cloneBlob: (value: object) => Blob | null;

export class Blob {
  #bytes: Uint8Array = EMPTY;
  #type = '';

  constructor(parts?: Iterable<BlobPart>, options?: BlobPropertyBag) {
    if (parts === (SKIP as unknown)) return;
    // WebIDL converts the arguments left to right: the parts sequence (each
    // element to Blob, BufferSource or string as it is taken from the
    // iterator), then the options dictionary (its members in lexicographic
    // order); the Blob's steps run after both (WPT Blob-constructor.any.js).
    const converted: Array<Blob | BufferSource | string> = [];
    if (parts !== undefined) {
      const iterator = parts === null || typeof parts !== 'object' ? undefined : (parts as { [Symbol.iterator]?: unknown })[Symbol.iterator];
      if (typeof iterator !== 'function') throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
      const it = apply(iterator as (this: unknown) => Iterator<unknown>, parts, []) as Iterator<unknown>;
      const next = it.next;
      for (;;) {
        const r = apply(next, it, []) as IteratorResult<unknown>;
        if (r.done) break;
        const part = r.value;
        converted[converted.length] = part instanceof Blob || part instanceof ArrayBuffer || ArrayBuffer.isView(part) ? (part as Blob | BufferSource) : String(part);
      }
    }
    // A WebIDL dictionary is any object, functions included (WPT File-constructor "Unusual but valid property bag").
    if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
      throw new TypeError("Failed to construct 'Blob': The provided value is not of type 'BlobPropertyBag'.");
    }
    const rawEndings = options?.endings;
    const endings = rawEndings === undefined ? 'transparent' : String(rawEndings);
    if (endings !== 'transparent' && endings !== 'native') {
      throw new TypeError(`Failed to construct 'Blob': '${endings}' is not a valid value for enumeration EndingType.`);
    }
    this.#type = normalizeType(options?.type);
    const chunks: Uint8Array[] = [];
    let size = 0;
    let sharedFromBlob = false;
    for (let i = 0; i < converted.length; i++) {
      const part = converted[i] as Blob | BufferSource | string;
      let bytes: Uint8Array;
      if (typeof part === 'string') bytes = utf8Encode(endings === 'native' ? nativeEndings(part) : part);
      else if (part instanceof Blob) {
        bytes = part.#bytes;
        sharedFromBlob = true;
      } else bytes = toBytes(part);
      chunks[chunks.length] = bytes;
      size += bytes.byteLength;
    }
    // Blob bytes are immutable, so a Blob made of exactly one Blob shares them;
    // anything else is copied, since the caller still owns its buffers.
    const first = chunks[0];
    if (chunks.length === 1 && first !== undefined && sharedFromBlob) {
      this.#bytes = first;
      return;
    }
    this.#bytes = concatBytes(chunks, size);
  }

  get size(): number {
    return this.#bytes.byteLength;
  }

  get type(): string {
    return this.#type;
  }

  slice(start?: number, end?: number, contentType?: string): Blob {
    const size = this.#bytes.byteLength;
    const rel = (v: number | undefined, dflt: number): number => {
      if (v === undefined) return dflt;
      const n = Math.trunc(Number(v)) || 0;
      return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
    };
    const from = rel(start, 0);
    const to = rel(end, size);
    const bytes = this.#bytes;
    // A view, not subarray(): that asks the bytes' constructor for Symbol.species.
    const view = new Uint8Array(typedArrayBuffer(bytes) as ArrayBuffer, typedArrayByteOffset(bytes) + from, Math.max(from, to) - from);
    return blobFromBytes(view, normalizeType(contentType));
  }

  stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const bytes = this.#bytes;
    return bytesStream(bytes);
  }

  text(): Promise<string> {
    return Promise.resolve(utf8Decode(this.#bytes));
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(typedArrayBuffer(copyBytes(this.#bytes)) as ArrayBuffer);
  }

  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return Promise.resolve(copyBytes(this.#bytes));
  }

  static {
    blobBytes = (b) => b.#bytes;
    // Private fields, not the getters: a tenant may redefine Blob.prototype.type.
    cloneBlob = (value) => {
      if (!(#bytes in value)) return null;
      const copy = emptyFileLike(value) ?? new Blob(SKIP as unknown as undefined);
      copy.#bytes = (value as Blob).#bytes;
      copy.#type = (value as Blob).#type;
      return copy;
    };
    blobFromBytes = (bytes, type) => {
      const b = new Blob(SKIP as unknown as undefined);
      b.#bytes = bytes;
      b.#type = type;
      return b;
    };
  }
}
Object.defineProperty(Blob.prototype, Symbol.toStringTag, { value: 'Blob', configurable: true });

/** A File with `value`'s name and date and no bytes yet, or null when `value` is not a File. */
let emptyFileLike: (value: object) => File | null;

// Marks an internal construction that fills the private fields afterwards.
const SKIP = Symbol('skip');

// Chunk size for streaming a Blob's bytes: bounded so a reader of a large blob
// can apply backpressure, large enough to keep per-chunk overhead negligible.
const STREAM_CHUNK = 64 * 1024;

// Each stream bytesStream() makes carries the bytes it serves. Until such a
// stream has had a reader or been cancelled, nothing has come out of it, so
// its whole content is still exactly these bytes: a body made from it (Hono
// copies a response as `new Response(res.body, res)`, twice per request with
// its cors middleware) can then be sent, read or cloned without running the
// stream.
//
// The bytes ride on the stream as a private field, added by a base class
// whose constructor returns the object it is given. Tenants cannot see or
// reach it, and the stream keeps its prototype. A WeakMap did the same job
// more slowly: every set() with a key younger than the map costs V8 a
// remembered-set insertion (malloc): 1–5 % of a Hono request's main-thread
// time in two profiles.
class Returns {
  constructor(o: object) {
    return o;
  }
}
class ByteSource extends Returns {
  #bytes: Uint8Array;
  private constructor(stream: ReadableStream, bytes: Uint8Array) {
    super(stream);
    this.#bytes = bytes;
  }
  static attach(stream: ReadableStream, bytes: Uint8Array): void {
    new ByteSource(stream, bytes);
  }
  static bytesOf(s: object): Uint8Array | undefined {
    return #bytes in s ? (s as ByteSource).#bytes : undefined;
  }
}

/** The bytes an untouched stream from bytesStream() still holds; null for any other stream. */
export function untouchedStreamBytes(s: ReadableStream): Uint8Array | null {
  const bytes = ByteSource.bytesOf(s);
  return bytes !== undefined && isUntouched(s) ? bytes : null;
}

/** A byte stream over `bytes`, handing out copies so readers may transfer or mutate them. */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array<ArrayBuffer>> {
  let off = 0;
  const s = new (streams().ReadableStream)({
    type: 'bytes',
    pull(c: ReadableByteStreamController) {
      const size = typedArrayByteLength(bytes);
      if (off >= size) {
        c.close();
        // A pending BYOB read must be answered after close (Streams §4.10.11).
        c.byobRequest?.respond(0);
        return;
      }
      const end = off + STREAM_CHUNK < size ? off + STREAM_CHUNK : size;
      c.enqueue(copyBytes(new Uint8Array(typedArrayBuffer(bytes) as ArrayBuffer, typedArrayByteOffset(bytes) + off, end - off)));
      off = end;
    },
  }) as ReadableStream<Uint8Array<ArrayBuffer>>;
  ByteSource.attach(s, bytes);
  return s;
}

export class File extends Blob {
  #name: string;
  #lastModified: number;

  constructor(bits: Iterable<BlobPart>, name: string, options?: FilePropertyBag) {
    if ((bits as unknown) === SKIP) {
      super(SKIP as unknown as undefined);
      this.#name = '';
      this.#lastModified = 0;
      return;
    }
    if (arguments.length < 2) throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
    super(bits, options);
    this.#name = String(name);
    const lm = options?.lastModified;
    this.#lastModified = lm === undefined ? wallNow() : Math.trunc(Number(lm)) || 0;
  }

  get name(): string {
    return this.#name;
  }

  get lastModified(): number {
    return this.#lastModified;
  }

  get webkitRelativePath(): string {
    return '';
  }

  static {
    emptyFileLike = (value) => {
      if (!(#name in value)) return null;
      const copy = new File(SKIP as unknown as BlobPart[], '');
      copy.#name = (value as File).#name;
      copy.#lastModified = (value as File).#lastModified;
      return copy;
    };
  }
}
Object.defineProperty(File.prototype, Symbol.toStringTag, { value: 'File', configurable: true });

// WebIDL's length of a constructor counts its required arguments: Blob() has none, File() two.
Object.defineProperty(Blob, 'length', { value: 0 });
Object.defineProperty(File, 'length', { value: 2 });
defineGlobal('Blob', Blob);
defineGlobal('File', File);
