// The Body mixin (Fetch §5.3) as a state object that Request and Response own.
//
// A body given as a string or bytes keeps that form until someone asks for
// `.body`: text()/json()/arrayBuffer() and responseParts() then read it with
// no stream in between, which is what keeps a warm request inside its budget.
// Only a stream source, or touching `.body`, brings in the streams library.
// A stream that `.body` (or Blob.stream()) made over known bytes keeps them
// while it is untouched (blob.ts: untouchedStreamBytes), so a body built from
// one is read, sent and cloned from those bytes too: no tee, no reads, and a
// response that crosses to the host whole rather than chunk by chunk.

import { Blob, blobBytes, blobFromBytes, bytesStream, concatBytes, untouchedStreamBytes } from './blob.ts';
import { FormData } from './form-data.ts';
import { boundaryOf, encodeMultipart, newBoundary, parseMultipart } from './multipart.ts';
import { utf8Decode, utf8Encode } from './encoding.ts';
import { drain, isDisturbed, isReadableStream, lockUnread, streams } from './streams.ts';
import {
  ArrayBufferCtor,
  arrayBufferByteLength,
  box,
  bytesOf,
  copyBytes,
  isView,
  PromiseCtor,
  promiseThen,
  rejectedWith,
  resolvedWith,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
  Uint8ArrayCtor,
} from './intrinsics.ts';
import { isURLSearchParams, whatwgUrl } from './url.ts';

export class BodyState {
  /** Source given as a string, not encoded yet. */
  text: string | null = null;
  /** Source bytes; immutable once here (copied from the caller, or owned by a Blob). */
  bytes: Uint8Array | null = null;
  /** The body's stream, once there is one; from then on it is the only source. */
  stream: ReadableStream<Uint8Array> | null = null;
  /** Read through the fast path (no stream existed). */
  used = false;
}

export interface Extracted {
  state: BodyState;
  /** Content-Type to add when the headers have none. */
  type: string | null;
}

/** Fetch "extract a body" for a non-null BodyInit. */
export function extractBody(init: unknown): Extracted {
  const state = new BodyState();
  if (typeof init === 'string') {
    state.text = init;
    return { state, type: 'text/plain;charset=UTF-8' };
  }
  if (init instanceof ArrayBuffer) {
    state.bytes = copyBytes(new Uint8ArrayCtor(init));
    return { state, type: null };
  }
  if (isView(init)) {
    // Copied: the caller may keep writing to its buffer after handing it over.
    state.bytes = copyBytes(bytesOf(init));
    return { state, type: null };
  }
  if (init instanceof Blob) {
    state.bytes = blobBytes(init);
    return { state, type: init.type === '' ? null : init.type };
  }
  if (init instanceof FormData) {
    const boundary = newBoundary();
    state.bytes = encodeMultipart(init, boundary);
    return { state, type: `multipart/form-data; boundary=${boundary}` };
  }
  if (isURLSearchParams(init)) {
    state.text = init.toString();
    return { state, type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  if (isReadableStream(init)) {
    if (init.locked || isDisturbed(init)) throw new TypeError('The body stream is locked or has already been read.');
    state.stream = init as ReadableStream<Uint8Array>;
    return { state, type: null };
  }
  // WebIDL union conversion: anything else is stringified as the USVString arm.
  state.text = String(init);
  return { state, type: 'text/plain;charset=UTF-8' };
}

/** A body made from bytes the caller hands over (no copy). */
export function bodyFromBytes(bytes: Uint8Array): BodyState {
  const state = new BodyState();
  state.bytes = bytes;
  return state;
}

export function bodyFromStream(stream: ReadableStream<Uint8Array>): BodyState {
  const state = new BodyState();
  state.stream = stream;
  return state;
}

export function isUsed(state: BodyState | null): boolean {
  return state !== null && (state.used || (state.stream !== null && isDisturbed(state.stream)));
}

/** Fetch "unusable": disturbed or locked. */
export function isUnusable(state: BodyState | null): boolean {
  return state !== null && (isUsed(state) || (state.stream !== null && state.stream.locked));
}

/** The `.body` getter. */
export function bodyStream(state: BodyState | null): ReadableStream<Uint8Array> | null {
  if (state === null) return null;
  if (state.stream !== null) return state.stream;
  if (state.used) {
    // Already read through the fast path: a spec body would now be a stream that
    // is closed, disturbed and locked to the reader that read it.
    const s = new (streams().ReadableStream)<Uint8Array>();
    s.getReader().cancel().catch(() => {});
    state.stream = s;
    return s;
  }
  state.stream = bytesStream(state.bytes ?? utf8Encode(state.text ?? ''));
  state.text = null;
  state.bytes = null;
  return state.stream;
}

/**
 * Known bytes or text without reading a stream; null when the body is a
 * stream that must be read. Marks the body used. The bytes may be shared
 * (with a clone, a Blob, a stream's source): never mutate or hand them out.
 */
export function takeFast(state: BodyState): string | Uint8Array | null {
  if (state.stream !== null) {
    const bytes = untouchedStreamBytes(state.stream);
    if (bytes === null) return null;
    lockUnread(state.stream, true);
    state.used = true;
    return bytes;
  }
  state.used = true;
  return state.text ?? state.bytes ?? new Uint8Array(0);
}

/** Every chunk of `stream` joined, in a box (never an object a tenant's `then` could intercept). */
function readAll(stream: ReadableStream<Uint8Array>): Promise<Content> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  return new PromiseCtor<Content>((resolve, reject) => {
    drain(
      stream,
      (value) => {
        if (!(value instanceof Uint8ArrayCtor)) throw new TypeError('The body stream produced a chunk that is not a Uint8Array.');
        chunks[chunks.length] = value;
        size += typedArrayByteLength(value);
        return undefined;
      },
      (err) => {
        if (err !== undefined) reject(err);
        else resolve(box({ value: chunks.length === 1 ? (chunks[0] as Uint8Array) : concatBytes(chunks, size) }));
      },
    );
  });
}

/** A body's content while the platform passes it along: boxed so no promise resolution looks up a `then`. */
interface Content {
  value: string | Uint8Array;
}

/** Fetch "consume body": the whole body as a string (text source) or bytes. */
function consume(state: BodyState | null): Promise<Content> {
  if (state === null) return resolvedWith(box({ value: new Uint8ArrayCtor(0) }));
  if (isUnusable(state)) return rejectedWith(new TypeError('Body has already been used. It can only be read once.'));
  const fast = takeFast(state);
  if (fast !== null) return resolvedWith(box({ value: fast }));
  return readAll(state.stream as ReadableStream<Uint8Array>);
}

// A fresh copy: the fast-path bytes may be shared with a clone or a Blob.
function ownBytes(b: string | Uint8Array, shared: boolean): Uint8Array<ArrayBuffer> {
  if (typeof b === 'string') return utf8Encode(b);
  return shared || !(typedArrayBuffer(b) instanceof ArrayBufferCtor) ? copyBytes(b) : (b as Uint8Array<ArrayBuffer>);
}

// The consume* functions chain on the platform's own promises and hand the
// worker its value only at the end (the one resolution the spec makes observable).

export function consumeText(state: BodyState | null): Promise<string> {
  return promiseThen(consume(state), (b) => (typeof b.value === 'string' ? b.value : utf8Decode(b.value)));
}

export function consumeJson(state: BodyState | null): Promise<unknown> {
  return promiseThen(consume(state), (b) => JSON.parse(typeof b.value === 'string' ? b.value : utf8Decode(b.value)) as unknown);
}

/** The body as bytes the caller owns, boxed, for the platform's own use (fetch uploads, Blob, FormData). */
export function consumeOwnBytes(state: BodyState | null): Promise<{ value: Uint8Array<ArrayBuffer> }> {
  const fast = state !== null && (state.stream === null || untouchedStreamBytes(state.stream) !== null);
  return promiseThen(consume(state), (b) => box({ value: ownBytes(b.value, fast) }));
}

export function consumeBytes(state: BodyState | null): Promise<Uint8Array<ArrayBuffer>> {
  return promiseThen(consumeOwnBytes(state), (b) => b.value);
}

export function consumeArrayBuffer(state: BodyState | null): Promise<ArrayBuffer> {
  return promiseThen(consumeOwnBytes(state), (b) => {
    const bytes = b.value;
    const buffer = typedArrayBuffer(bytes) as ArrayBuffer;
    return typedArrayByteOffset(bytes) === 0 && typedArrayByteLength(bytes) === arrayBufferByteLength(buffer) ? buffer : (typedArrayBuffer(copyBytes(bytes)) as ArrayBuffer);
  });
}

export function consumeBlob(state: BodyState | null, contentType: string | null): Promise<Blob> {
  return promiseThen(consumeOwnBytes(state), (b) => {
    const t = contentType ?? '';
    return blobFromBytes(b.value, /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : '');
  });
}

export function consumeFormData(state: BodyState | null, contentType: string | null): Promise<FormData> {
  const ct = (contentType ?? '').toLowerCase();
  if (ct.startsWith('multipart/form-data')) {
    const boundary = boundaryOf(contentType ?? '');
    if (boundary === null) return Promise.reject(new TypeError('Failed to parse body as FormData: no boundary in Content-Type.'));
    return promiseThen(consumeOwnBytes(state), (b) => parseMultipart(b.value, boundary));
  }
  if (ct.startsWith('application/x-www-form-urlencoded')) {
    return promiseThen(consume(state), (b) => {
      const fd = new FormData();
      for (const [k, v] of new (whatwgUrl().URLSearchParams)(typeof b.value === 'string' ? b.value : utf8Decode(b.value))) fd.append(k, v);
      return fd;
    });
  }
  return rejectedWith(new TypeError(`Failed to parse body as FormData: unsupported Content-Type "${contentType ?? ''}".`));
}

/** Fetch "clone a body"; the caller has checked that the body is usable. */
export function cloneBody(state: BodyState): BodyState {
  const copy = new BodyState();
  const known = state.stream === null ? null : untouchedStreamBytes(state.stream);
  if (known !== null && state.stream !== null) {
    // Teeing would lock the stream and give each body a branch; its content
    // is known, so both bodies go back to holding the bytes (each makes a
    // fresh stream if asked for `.body`) and the stream is left locked, as
    // teeing leaves it. A tee of a byte stream measured 14–19 µs here.
    lockUnread(state.stream, false);
    state.stream = null;
    state.bytes = known;
  }
  if (state.stream === null) {
    copy.text = state.text;
    copy.bytes = state.bytes;
    return copy;
  }
  const [a, b] = state.stream.tee();
  state.stream = a;
  copy.stream = b;
  return copy;
}
