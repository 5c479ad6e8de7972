// WHATWG Streams from web-streams-polyfill 4's ponyfill (byte streams and BYOB
// readers, tee, pipeTo/pipeThrough, ReadableStream.from), loaded on first touch.
// TextEncoderStream/TextDecoderStream come from @exodus/bytes and build on the
// TransformStream global.

import { TextDecoderStream, TextEncoderStream } from '@exodus/bytes/encoding-lite.js';
import { defineLazyGlobal } from './define.ts';

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

let lib: Streams | undefined;

/**
 * Our code takes the classes from here, never from globalThis: a tenant may
 * replace the globals, and our bodies must stay real streams regardless.
 */
export function streams(): Streams {
  // The ponyfill's declarations are its own classes; they implement the DOM's
  // interfaces, which is what the rest of the runtime is typed against.
  lib ??= require('web-streams-polyfill') as Ponyfill as unknown as Streams;
  return lib;
}

/** Whether `s` is one of our streams and a reader has read from or cancelled it. */
export function isDisturbed(s: ReadableStream): boolean {
  // The ponyfill keeps the spec's [[disturbed]] slot as a plain field.
  return (s as unknown as { _disturbed: boolean })._disturbed;
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
