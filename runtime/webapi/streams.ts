// WHATWG Streams from web-streams-polyfill 4's ponyfill (byte streams and BYOB
// readers, tee, pipeTo/pipeThrough, ReadableStream.from), loaded on first touch.
// TextEncoderStream/TextDecoderStream come from @exodus/bytes and build on the
// TransformStream global.

import { TextDecoderStream, TextEncoderStream } from 'edgefn:exodus-encoding';
import { defineLazyGlobal } from './define.ts';
import { apply, getPrototypeOf, promiseThen, setPrototypeOf, uncurryThis } from './intrinsics.ts';
import { pristine } from './pristine.ts';
import { checkEnqueueOptions } from './stream-enqueue-options.ts';

type Ponyfill = typeof import('web-streams-polyfill');

/** The streams implementation, shared with our own code (bodies, Blob.stream). */
export interface Streams {
  ReadableStream: typeof globalThis.ReadableStream;
  WritableStream: typeof globalThis.WritableStream;
  TransformStream: typeof globalThis.TransformStream;
  ByteLengthQueuingStrategy: typeof globalThis.ByteLengthQueuingStrategy;
  CountQueuingStrategy: typeof globalThis.CountQueuingStrategy;
  ReadableStreamDefaultReader: typeof globalThis.ReadableStreamDefaultReader;
  ReadableStreamBYOBReader: typeof globalThis.ReadableStreamBYOBReader;
  ReadableStreamDefaultController: typeof globalThis.ReadableStreamDefaultController;
  ReadableByteStreamController: typeof globalThis.ReadableByteStreamController;
  ReadableStreamBYOBRequest: typeof globalThis.ReadableStreamBYOBRequest;
  WritableStreamDefaultWriter: typeof globalThis.WritableStreamDefaultWriter;
  WritableStreamDefaultController: typeof globalThis.WritableStreamDefaultController;
  TransformStreamDefaultController: typeof globalThis.TransformStreamDefaultController;
}

const AsyncIteratorPrototype = getPrototypeOf(getPrototypeOf(async function* () {}).prototype) as object;

let lib: Streams | undefined;
let pipeTo: (source: ReadableStream, dest: WritableStream) => Promise<void>;

/**
 * Our code takes the classes from here, never from globalThis: a tenant may
 * replace the globals, and our bodies must stay real streams regardless.
 */
export function streams(): Streams {
  if (lib !== undefined) return lib;
  // The ponyfill's declarations are its own classes; they implement the DOM's
  // interfaces, which is what the rest of the runtime is typed against.
  lib = pristine(() => require('web-streams-polyfill') as Ponyfill as unknown as Streams);
  // Its prototypes were made just now, so no tenant code can have changed
  // them yet: what is captured here is the library's own.
  pipeTo = uncurryThis(lib.ReadableStream.prototype.pipeTo) as typeof pipeTo;
  // Streams §4.2.4: the async iterator's prototype inherits from
  // %AsyncIteratorPrototype%; the library makes it a plain object (WPT
  // readable-streams/async-iterator "correct list of properties", which Node 24 passes).
  setPrototypeOf(getPrototypeOf(apply(lib.ReadableStream.prototype.values, new lib.ReadableStream(), [])) as object, AsyncIteratorPrototype);
  checkEnqueueOptions(lib.ReadableStreamDefaultController.prototype as unknown as Parameters<typeof checkEnqueueOptions>[0]);
  return lib;
}

/** A reading of a stream by the platform; `stop` ends it early, cancelling the stream with `reason`. */
export interface Drain {
  stop(reason: unknown): void;
}

/**
 * Read `stream` to its end on the platform's behalf: `onChunk` gets every
 * chunk (return a promise to hold the next read until it settles; throw to
 * cancel the stream with that error), then `onEnd(undefined)`, or
 * `onEnd(error)` when the stream errors, a chunk is refused or `stop` is
 * called. Locks the stream.
 *
 * It pipes into a sink of ours rather than calling reader.read(): a read
 * resolves its promise with a fresh { value, done } object, whose `then` a
 * tenant can define on Object.prototype and so take over the read (WPT
 * streams/piping/then-interception). A pipe reads through internal read
 * requests that resolve nothing with an object.
 */
export function drain(stream: ReadableStream, onChunk: (chunk: unknown) => Promise<void> | undefined, onEnd: (error: unknown) => void): Drain {
  let controller: WritableStreamDefaultController | undefined;
  let ended = false;
  const end = (error: unknown): void => {
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  const sink = new (streams().WritableStream)({
    start(c: WritableStreamDefaultController) {
      controller = c;
    },
    write(chunk: unknown) {
      return onChunk(chunk);
    },
  });
  promiseThen(
    pipeTo(stream, sink),
    () => end(undefined),
    (err: unknown) => end(err),
  );
  return {
    stop(reason) {
      // An errored destination makes the pipe cancel the source with the same reason.
      if (!ended) controller?.error(reason);
    },
  };
}

// The ponyfill keeps the spec's internal slots as plain fields: [[disturbed]]
// as `_disturbed`, [[reader]] as `_reader`. They are read here rather than
// through `locked`, which a tenant can redefine on the shared prototype.
interface Slots {
  _disturbed: boolean;
  _reader: unknown;
}

/** Whether `s` is one of our streams and a reader has read from or cancelled it. */
export function isDisturbed(s: ReadableStream): boolean {
  return (s as unknown as Slots)._disturbed;
}

/** Whether nothing can have come out of `s`: it has no reader (teeing and piping take one) and was never read from or cancelled. */
export function isUntouched(s: ReadableStream): boolean {
  const slots = s as unknown as Slots;
  return slots._reader === undefined && !slots._disturbed;
}

/**
 * Leave `s` as it would be had our code read it to its end (`read`) or teed
 * it (`!read`), without doing either: locked to a reader nobody holds, and
 * for a read, disturbed. For streams whose content was taken another way.
 */
export function lockUnread(s: ReadableStream, read: boolean): void {
  new (streams().ReadableStreamDefaultReader)(s);
  if (read) (s as unknown as Slots)._disturbed = true;
}

export function isReadableStream(value: unknown): value is ReadableStream {
  return lib !== undefined && value instanceof lib.ReadableStream;
}

const NAMES = [
  'ReadableStream',
  'WritableStream',
  'TransformStream',
  'ByteLengthQueuingStrategy',
  'CountQueuingStrategy',
  'ReadableStreamDefaultReader',
  'ReadableStreamBYOBReader',
  'ReadableStreamDefaultController',
  'ReadableByteStreamController',
  'ReadableStreamBYOBRequest',
  'WritableStreamDefaultWriter',
  'WritableStreamDefaultController',
  'TransformStreamDefaultController',
] as const satisfies readonly (keyof Streams)[];

for (const name of NAMES) defineLazyGlobal(name, () => streams()[name]);
defineLazyGlobal('TextEncoderStream', () => TextEncoderStream);
defineLazyGlobal('TextDecoderStream', () => TextDecoderStream);
