// CompressionStream / DecompressionStream (Compression Streams standard) as
// TransformStreams whose work is done by the host's zlib through the
// `compression` host op (runtime/host-ops/compression.ts). Like workerd's,
// they are TransformStream subclasses, so `instanceof TransformStream` holds.
//
// Each write is one host call that returns the output so far; when the host
// has more than a slice waiting it answers `done: false` and we call again,
// so output reaches the readable side in bounded pieces and the
// TransformStream's own backpressure (transform() not settling) paces the
// writer. A lazy module (runtime/prelude.ts, LAZY_MODULES), its classes
// built on first touch: they need the streams ponyfill.

import { defineLazyGlobal } from './define.ts';
import { sharedArrayBufferByteLength } from './intrinsics.ts';
import { host, hostCall } from './bridge.ts';
import { streams } from './streams.ts';

/** Whether `buffer` is a SharedArrayBuffer (its own byteLength getter accepts nothing else). */
function isShared(buffer: ArrayBufferLike): boolean {
  try {
    sharedArrayBufferByteLength(buffer);
    return true;
  } catch {
    return false;
  }
}

const FORMATS: readonly string[] = ['gzip', 'deflate', 'deflate-raw'];

interface StepResult {
  out: Uint8Array;
  done: boolean;
}

async function step(payload: Record<string, unknown>): Promise<StepResult> {
  return (await hostCall('compression', payload)).value as StepResult;
}

// Ids only need to be unique within this isolate: the host keeps streams in
// the isolate's own op state.
let nextId = 1;

function formatOf(format: unknown, cls: string, given: number): string {
  if (given < 1) throw new TypeError(`Failed to construct '${cls}': 1 argument required, but only 0 present.`);
  const f = String(format);
  if (!FORMATS.includes(f)) throw new TypeError(`Failed to construct '${cls}': Unsupported compression format: '${f}'`);
  return f;
}

// The spec's transformer.cancel (the ponyfill implements it; TypeScript's DOM
// types predate it).
type CancellableTransformer = Transformer<BufferSource, Uint8Array> & { cancel(reason: unknown): void };

function transformer(format: string, decompress: boolean): CancellableTransformer {
  const id = nextId++;
  let opened = false;
  const open = (): { format: string; decompress: boolean } | undefined => {
    if (opened) return undefined;
    opened = true;
    return { format, decompress };
  };
  const run = async (first: { chunk?: Uint8Array; end?: boolean }, controller: TransformStreamDefaultController<Uint8Array>): Promise<void> => {
    const o = open();
    let r = await step(o === undefined ? { id, ...first } : { id, open: o, ...first });
    for (;;) {
      if (r.out.byteLength > 0) controller.enqueue(r.out);
      if (r.done) return;
      r = await step({ id });
    }
  };
  return {
    async transform(chunk, controller) {
      // Compression Streams: "If chunk is not a BufferSource type, throw a TypeError."
      let bytes: Uint8Array;
      if (chunk instanceof ArrayBuffer) bytes = new Uint8Array(chunk.slice(0));
      // BufferSource is not [AllowShared]: a view of a SharedArrayBuffer is refused like any non-buffer (WPT compression/*-bad-chunks).
      else if (ArrayBuffer.isView(chunk) && !isShared(chunk.buffer)) bytes = new Uint8Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
      else throw new TypeError('The chunk written to a compression stream must be an ArrayBuffer or ArrayBufferView');
      if (bytes.byteLength === 0) return;
      await run({ chunk: bytes }, controller);
    },
    async flush(controller) {
      await run({ end: true }, controller);
    },
    // The readable side was cancelled or the writable side aborted: free the
    // host's zlib stream now rather than when the request ends.
    cancel() {
      if (opened) host().callSync('compression.close', { id });
    },
  };
}

interface Classes {
  CompressionStream: new (format: string) => TransformStream<BufferSource, Uint8Array>;
  DecompressionStream: new (format: string) => TransformStream<BufferSource, Uint8Array>;
}

let classes: Classes | undefined;

function make(): Classes {
  if (classes !== undefined) return classes;
  const { TransformStream } = streams();
  class CompressionStream extends TransformStream<BufferSource, Uint8Array> {
    constructor(format: string) {
      super(transformer(formatOf(format, 'CompressionStream', arguments.length), false));
    }
  }
  class DecompressionStream extends TransformStream<BufferSource, Uint8Array> {
    constructor(format: string) {
      super(transformer(formatOf(format, 'DecompressionStream', arguments.length), true));
    }
  }
  Object.defineProperty(CompressionStream.prototype, Symbol.toStringTag, { value: 'CompressionStream', configurable: true });
  Object.defineProperty(DecompressionStream.prototype, Symbol.toStringTag, { value: 'DecompressionStream', configurable: true });
  classes = { CompressionStream, DecompressionStream };
  return classes;
}

defineLazyGlobal('CompressionStream', () => make().CompressionStream);
defineLazyGlobal('DecompressionStream', () => make().DecompressionStream);
