// Streamed content for HTMLRewriter: `element.append(stream)`,
// `setInnerContent(response)`… take a ReadableStream or a Response as
// workerd does. lol-html built to WebAssembly (html-rewriter-wasm) takes
// content only as a string, so the stream is read in full, as UTF-8, and
// inserted as one string once it has ended; the handler's token stays valid
// until then, and the rewriter waits (an async handler's suspension, as for a
// handler that returns a promise). The output is the same as workerd's; the
// difference is that the stream's content is held in the isolate's memory
// until it has ended instead of flowing through.
//
// Reading starts when the content is given, so the stream (or the
// Response's body) is locked then, as in workerd.

import { TextDecoder } from './encoding.ts';
import { box, isView, PromiseCtor, Uint8ArrayCtor } from './intrinsics.ts';
import { isResponse, responseParts } from './response.ts';
import { drain, isReadableStream } from './streams.ts';

/** Whether `value` is content to read (a ReadableStream or a Response) rather than a string. */
export function isStreamContent(value: unknown): boolean {
  return isReadableStream(value) || isResponse(value);
}

/** workerd's words for bytes that are not UTF-8 in streamed content. */
const INVALID_UTF8 = 'Parser error: Invalid UTF-8';

/**
 * Read a ReadableStream or a Response's body to its end as UTF-8 text
 * (chunks may be bytes or strings, as workerd takes them). Rejects with the
 * stream's own error, or a TypeError for bytes that are not UTF-8 or a chunk
 * that is neither.
 */
export function readContent(value: unknown): Promise<string> {
  let body: Uint8Array | ReadableStream | null;
  if (isResponse(value)) body = responseParts(value as never).body;
  else body = value as ReadableStream;
  const decoder = new TextDecoder('utf-8', box({ fatal: true }));
  const decode = (bytes: Uint8Array, more: boolean): string => {
    try {
      return decoder.decode(bytes, box({ stream: more }));
    } catch {
      throw new TypeError(INVALID_UTF8);
    }
  };
  return new PromiseCtor<string>((resolve, reject) => {
    if (body === null) {
      resolve('');
      return;
    }
    if (!isReadableStream(body)) {
      resolve(decode(body, false));
      return;
    }
    let text = '';
    drain(
      body,
      (chunk) => {
        if (typeof chunk === 'string') text += chunk;
        else if (isView(chunk)) text += decode(chunk as Uint8Array, true);
        else throw new TypeError('This ReadableStream did not return bytes or strings.');
        return undefined;
      },
      (error) => {
        if (error !== undefined) {
          reject(error);
          return;
        }
        try {
          resolve(text + decode(new Uint8ArrayCtor(0), false));
        } catch (err) {
          reject(err);
        }
      },
    );
  });
}
