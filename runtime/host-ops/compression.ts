// CompressionStream / DecompressionStream for the isolate
// (runtime/webapi/compression.ts), done by the host's zlib.
//
// One node:zlib stream per isolate-side stream, kept in `ctx.isolate` under an
// id the isolate chose. The isolate pushes a chunk (or the end) and gets back
// the output produced so far; when more than OUTPUT_SLICE bytes are waiting the
// zlib stream is paused and the isolate is told to come back for the rest, so
// a small deflate bomb never buffers more than about a slice on the host and
// every copy into the isolate is bounded. Streams are destroyed when they end,
// fail, are cancelled, when the request that opened them ends (like workerd,
// a stream is an I/O object of its request), or when the isolate dies.

import zlib from 'node:zlib';
import type { HostOp, HostOpSync, OpContext } from './types.ts';

export const COMPRESSION_FORMATS = ['gzip', 'deflate', 'deflate-raw'] as const;
export type CompressionFormat = (typeof COMPRESSION_FORMATS)[number];

/** Bytes of output handed to the isolate per step at most (plus one zlib chunk, 16 KiB). */
export const OUTPUT_SLICE = 1 << 20;
/** Open zlib streams per isolate; a deflate stream holds ~256 KiB of host memory. */
export const MAX_STREAMS_PER_ISOLATE = 64;

function makeZlib(format: CompressionFormat, decompress: boolean): zlib.Gzip | zlib.Gunzip | zlib.Deflate | zlib.Inflate | zlib.DeflateRaw | zlib.InflateRaw {
  // Compression Streams §decompress: data after the end of the compressed
  // stream is an error, not something to skip.
  const d = { rejectGarbageAfterEnd: true } as zlib.ZlibOptions;
  switch (format) {
    case 'gzip':
      return decompress ? zlib.createGunzip(d) : zlib.createGzip();
    case 'deflate':
      return decompress ? zlib.createInflate(d) : zlib.createDeflate();
    case 'deflate-raw':
      return decompress ? zlib.createInflateRaw(d) : zlib.createDeflateRaw();
  }
}

export interface StepResult {
  out: Uint8Array;
  /** The chunk was consumed (for a write) or the stream has ended (for the end); otherwise call again. */
  done: boolean;
}

class HostZlib {
  readonly #z: ReturnType<typeof makeZlib>;
  readonly #decompress: boolean;
  #out: Buffer[] = [];
  #outBytes = 0;
  #writesPending = 0;
  #ending = false;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(format: CompressionFormat, decompress: boolean) {
    this.#decompress = decompress;
    const z = (this.#z = makeZlib(format, decompress));
    z.on('data', (b: Buffer) => {
      this.#out.push(b);
      this.#outBytes += b.byteLength;
      if (this.#outBytes >= OUTPUT_SLICE) z.pause();
      this.#poke();
    });
    z.on('error', (e: Error) => this.#fail(e));
    z.on('end', () => {
      this.#ended = true;
      this.#poke();
    });
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #fail(e: Error): void {
    this.#error ??= e;
    this.#poke();
  }

  async #until(ready: () => boolean): Promise<void> {
    while (this.#error === undefined && this.#outBytes < OUTPUT_SLICE && !ready()) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Output gathered so far, as one Uint8Array with its own buffer; lets zlib run again. */
  #take(): Uint8Array {
    const out = new Uint8Array(this.#outBytes);
    let at = 0;
    for (const b of this.#out) {
      out.set(b, at);
      at += b.byteLength;
    }
    this.#out = [];
    this.#outBytes = 0;
    this.#z.resume();
    return out;
  }

  #check(): void {
    if (this.#error === undefined) return;
    // workerd and the spec both reject corrupt, truncated or trailing input
    // with a TypeError; zlib's message says which it was.
    throw new TypeError(`${this.#decompress ? 'Decompression' : 'Compression'} failed: ${this.#error.message}`);
  }

  async write(chunk: Uint8Array): Promise<StepResult> {
    this.#check();
    this.#writesPending++;
    this.#z.write(chunk, () => {
      this.#writesPending--;
      this.#poke();
    });
    return this.more();
  }

  async end(): Promise<StepResult> {
    this.#check();
    if (!this.#ending) {
      this.#ending = true;
      this.#z.end();
    }
    return this.more();
  }

  /** Continue the last write or end: wait for it to finish or for a slice of output. */
  async more(): Promise<StepResult> {
    await this.#until(() => (this.#ending ? this.#ended : this.#writesPending === 0));
    this.#check();
    // 'end' follows the last 'data', so an ended stream has no output left behind.
    const done = this.#ending ? this.#ended : this.#writesPending === 0;
    return { out: this.#take(), done };
  }

  destroy(): void {
    this.#fail(new Error('the stream was closed'));
    this.#z.destroy();
  }
}

interface StreamStore {
  streams: Map<number, HostZlib>;
}

const STORE = 'compression.streams';

function store(ctx: OpContext): StreamStore {
  let s = ctx.isolate.get(STORE) as StreamStore | undefined;
  if (s === undefined) {
    const created: StreamStore = (s = { streams: new Map() });
    ctx.isolate.set(STORE, created);
    // The isolate map is cleared on death, but zlib handles need destroying.
    ctx.onDispose(() => {
      for (const z of created.streams.values()) z.destroy();
      created.streams.clear();
    });
  }
  return s;
}

interface StepPayload {
  id: number;
  /** Present on the first step only: create the zlib stream. */
  open?: { format: string; decompress: boolean };
  chunk?: Uint8Array;
  end?: boolean;
}

function open(s: StreamStore, ctx: OpContext, id: number, o: { format: string; decompress: boolean }): HostZlib {
  const format = o.format as CompressionFormat;
  if (!COMPRESSION_FORMATS.includes(format)) throw new TypeError(`Unsupported compression format: '${String(o.format)}'`);
  if (s.streams.size >= MAX_STREAMS_PER_ISOLATE) {
    const e = new Error(`An isolate may have at most ${MAX_STREAMS_PER_ISOLATE} compression streams open`);
    e.name = 'QuotaExceededError';
    throw e;
  }
  const z = new HostZlib(format, o.decompress === true);
  s.streams.set(id, z);
  const signal = ctx.signal;
  if (signal !== undefined) {
    const close = (): void => {
      if (s.streams.get(id) === z) s.streams.delete(id);
      z.destroy();
    };
    if (signal.aborted) close();
    else signal.addEventListener('abort', close, { once: true });
  }
  return z;
}

export const compressionStep: HostOp = async (payload, ctx) => {
  const p = payload as StepPayload;
  const s = store(ctx);
  let z = s.streams.get(p.id);
  if (p.open !== undefined) {
    if (z !== undefined) throw new TypeError('compression stream id in use');
    z = open(s, ctx, p.id, p.open);
  }
  if (z === undefined) throw new TypeError('The compression stream was closed (streams belong to the request that opened them)');
  try {
    const r = p.chunk !== undefined ? await z.write(p.chunk) : p.end === true ? await z.end() : await z.more();
    if (p.end === true && r.done) s.streams.delete(p.id);
    return r;
  } catch (err) {
    s.streams.delete(p.id);
    z.destroy();
    throw err;
  }
};

/** The isolate-side stream was cancelled or aborted: drop the zlib stream now. */
export const compressionClose: HostOpSync = (payload, ctx) => {
  const { id } = payload as { id: number };
  const s = ctx.isolate.get(STORE) as StreamStore | undefined;
  const z = s?.streams.get(id);
  if (s === undefined || z === undefined) return;
  s.streams.delete(id);
  z.destroy();
};
