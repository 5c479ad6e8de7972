// node:stream: `readable-stream` (Node's streams, extracted from Node 18), its browser build.
import stream from 'readable-stream/lib/ours/browser.js';

export const { Readable, Writable, Duplex, Transform, PassThrough, Stream, pipeline, finished, addAbortSignal, compose, isReadable, isErrored, isDisturbed, promises } = stream as Record<string, never>;
export default stream;
